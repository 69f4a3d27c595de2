package sessions

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBook: a session is recorded when its initialize succeeds, under the
// view of the server it was born on, and is gone from List and Counts as
// soon as the client's DELETE is answered.
func TestBook(t *testing.T) {
	b := New()
	merged := mcp.NewServer(&mcp.Implementation{Name: "merged", Version: "test"}, nil)
	up := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "test"}, nil)
	b.Track("", merged)
	b.Track("up", up)
	mh := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return merged }, nil))
	defer mh.Close()
	uh := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	defer uh.Close()
	connect := func(url string) *mcp.ClientSession {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "test"}, nil).
			Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
		require.NoError(t, err)
		return cs
	}
	a, c := connect(mh.URL), connect(uh.URL)
	assert.Equal(t, map[string]int{"": 1, "up": 1}, b.Counts())
	list := b.List()
	require.Len(t, list, 2)
	assert.ElementsMatch(t, []string{a.ID(), c.ID()}, []string{list[0].ID, list[1].ID})
	_, protocol, ok := b.Session(a.ID())
	assert.True(t, ok)
	assert.NotEmpty(t, protocol)
	require.NoError(t, a.Close())
	assert.Equal(t, map[string]int{"up": 1}, b.Counts(), "right after DELETE")
	require.NoError(t, c.Close())
	assert.Empty(t, b.List())
}
