package upauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// cgnat is the shared address space of RFC 6598: not public, and possibly
// another tenant's behind the same NAT.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// addrClass sorts addresses for the dial guard.
type addrClass int

const (
	addrPublic   addrClass = iota
	addrInternal           // loopback, private (RFC 1918, ULA), shared (CGNAT)
	addrNever              // link-local (cloud metadata at 169.254.169.254), multicast, unspecified
)

func classify(ip netip.Addr) addrClass {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(),
		ip.IsMulticast(), ip.IsUnspecified():
		return addrNever
	case ip.IsLoopback(), ip.IsPrivate(), cgnat.Contains(ip):
		return addrInternal
	}
	return addrPublic
}

// errBlockedAddr is the dial guard's refusal.
var errBlockedAddr = errors.New("refusing to connect to a non-public address for OAuth")

// upstreamIsInternal reports whether up's host is loopback or private, by
// literal, by "localhost", or by what it resolves to now. An upstream on the
// internal network may have its authorization server there; a public one may
// not send the gateway to internal addresses.
func upstreamIsInternal(ctx context.Context, rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return classify(ip) == addrInternal
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if classify(ip) != addrInternal {
			return false
		}
	}
	return true
}

// guardedClient is the HTTP client of OAuth requests for an upstream. Its
// dialer checks every address it connects to (after DNS resolution, so a
// name that resolves to a blocked address is refused where it is dialled):
// never link-local, multicast or unspecified; internal addresses only when
// the upstream itself is internal. Redirects are followed at most 5 times and
// never from https to http.
func guardedClient(allowInternal bool) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DialContext = (&net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				host = address
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: %s", errBlockedAddr, host)
			}
			switch classify(ip) {
			case addrNever:
				return fmt.Errorf("%w: %s", errBlockedAddr, ip)
			case addrInternal:
				if !allowInternal {
					return fmt.Errorf("%w: %s (the upstream is public)", errBlockedAddr, ip)
				}
			}
			return nil
		},
	}).DialContext
	return &http.Client{
		Transport: base,
		Timeout:   60 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("redirect from https to http refused")
			}
			return nil
		},
	}
}

// httpClient is the client for up's OAuth requests.
func (m *Manager) httpClient(ctx context.Context, up Upstream) *http.Client {
	if m.http != nil {
		return m.http
	}
	return guardedClient(upstreamIsInternal(ctx, up.URL))
}

// isLoopbackHost reports whether host (no port) is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// checkOAuthURL accepts only absolute http(s) URLs, and http only on a
// loopback host: authorization, token and registration endpoints must use
// HTTPS (and a browser must never be handed javascript:, data:, file: or
// vbscript:).
func checkOAuthURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%s is not an absolute URL", what)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s must use https (http only on loopback)", what)
	}
	return fmt.Errorf("%s must be an http(s) URL, not %q", what, u.Scheme+":")
}
