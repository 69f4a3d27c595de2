package govern

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCanonicalizeRFC8785 checks the examples RFC 8785 publishes: the whole
// transformation (section 3.2.2) and the sorting of member names by UTF-16
// code units (section 3.2.3), where the emoji (a surrogate pair) sorts before
// U+FB33 although its code point is greater.
func TestCanonicalizeRFC8785(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{
			name: "3.2.2 serialization",
			in: `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			name: "3.2.3 sorting",
			in: `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			want: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\"," +
				"\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{name: "nested sorted at every level", in: `{"b":[{"z":1,"a":[]}],"a":{"d":true,"c":{}}}`, want: `{"a":{"c":{},"d":true},"b":[{"a":[],"z":1}]}`},
		{name: "html characters stay", in: `"<a href='x'>&</a>"`, want: `"<a href='x'>&</a>"`},
		{name: "U+2028 stays literal", in: `"\u2028"`, want: "\"\u2028\""},
		{name: "del stays literal", in: `"\u007f"`, want: "\"\x7f\""},
		{name: "integers", in: `[0,-0,1,-1,100,1e2,1E+2,0.1e1]`, want: `[0,0,1,-1,100,100,100,1]`},
		{name: "top-level scalar", in: ` 12.50 `, want: `12.5`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
			again, err := Canonicalize(got)
			require.NoError(t, err)
			assert.Equal(t, string(got), string(again), "idempotent")
		})
	}
}

// TestNumbersRFC8785AppendixB checks every finite sample of RFC 8785
// Appendix B, given as IEEE 754 bit patterns.
func TestNumbersRFC8785AppendixB(t *testing.T) {
	cases := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"}, // round to even
	}
	for _, tc := range cases {
		f := math.Float64frombits(tc.bits)
		assert.Equal(t, tc.want, string(appendNumber(nil, f)), "%016x", tc.bits)
		// The same through the parser, from Go's own round-trip text.
		got, err := Canonicalize([]byte(strconv.FormatFloat(f, 'g', -1, 64)))
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(got), "%016x parsed", tc.bits)
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1 2]`, `01`, `1.`, `.5`, `1e`, `-`, `+1`,
		`tru`, `nul`, `"abc`, `"\x"`, `"\u12"`, `"\u12zz"`, "\"\x01\"", "\"\xff\"", `NaN`, `Infinity`,
		`1e400`, `-1e400`, // not finite doubles
		`"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\ud800x"`, // lone surrogates
		`{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, // duplicates, also after unescaping
		`1 2`, `{} x`,
	} {
		_, err := Canonicalize([]byte(in))
		assert.ErrorIs(t, err, ErrNotCanonicalizable, "%q", in)
	}
}

func TestCanonicalizeDepth(t *testing.T) {
	deep := func(n int) []byte {
		b := make([]byte, 0, 2*n)
		for range n {
			b = append(b, '[')
		}
		for range n {
			b = append(b, ']')
		}
		return b
	}
	_, err := Canonicalize(deep(MaxDepth))
	require.NoError(t, err)
	_, err = Canonicalize(deep(MaxDepth + 1))
	assert.ErrorIs(t, err, ErrNotCanonicalizable)
}

// FuzzCanonicalize: never panics; what it accepts is valid JSON that means the
// same as the input (encoding/json decodes both to equal values) and is its
// own canonical form.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[1.5e300,-0,"\u00e9\ud83d\ude00"],"c":{"\r":null}}`, `[]`, `"\u0000\u001f"`, `1E-7`,
		`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001]}`, `[[[[]]]]`, `"\ud800"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Canonicalize(data)
		if err != nil {
			return
		}
		require.True(t, json.Valid(out), "%q → %q", data, out)
		again, err := Canonicalize(out)
		require.NoError(t, err, "%q", out)
		require.Equal(t, string(out), string(again))
		var a, b any
		require.NoError(t, json.Unmarshal(data, &a))
		require.NoError(t, json.Unmarshal(out, &b))
		require.Equal(t, a, b, "%q → %q", data, out)
	})
}
