package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ParseURLs parses a comma-separated list of NATS server URLs
// ("nats://HOST:4222,tls://HOST2:4222"). Each needs the nats or tls scheme
// and a host; the port defaults to 4222. It returns the URLs in a canonical
// form.
func ParseURLs(list string) ([]string, error) {
	var urls []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := parseURL(s)
		if err != nil {
			return nil, fmt.Errorf("cluster URL %q: %w", s, err)
		}
		urls = append(urls, u)
	}
	if len(urls) == 0 {
		return nil, errors.New("cluster: no NATS URL given (want nats://HOST:4222)")
	}
	return urls, nil
}

func parseURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		return "", errors.New("want nats://HOST:PORT")
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL itself is already in the message
		}
		return "", err
	}
	switch u.Scheme {
	case "nats", "tls":
	default:
		return "", fmt.Errorf("scheme %q: want nats:// or tls://", u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("want only nats://[USER[:PASSWORD]@]HOST[:PORT]")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", errors.New("no host")
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(u.Host, "[") {
		// "nats://::1" splits as host ":" port "1"; say what was meant.
		return "", fmt.Errorf("IPv6 host %q needs brackets: nats://[ADDR]:PORT", u.Host)
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", errors.New("empty port")
	}
	if port == "" {
		port = "4222"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	out := url.URL{Scheme: u.Scheme, User: u.User, Host: net.JoinHostPort(host, port)}
	return out.String(), nil
}
