package middleware

import (
	"context"
	"errors"
	"fmt"
	"net"

	"sockit/access"
	"sockit/server"
)

// ErrRefused is wrapped by the errors of connections the access middleware
// turns away; the text names the rule.
var ErrRefused = errors.New("refused")

// Allow refuses connections whose source the list does not admit (see
// access.List.Check). The error, which the server logs, names the source
// (the real client behind a PROXY header) and the deciding rule. Connections without an IP source (Unix sockets) are not checked:
// file permissions govern those.
func Allow(list *access.List) server.Middleware {
	return func(next server.Handler) server.Handler {
		if list == nil || list.Empty() {
			return next
		}
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			ip, ok := access.SourceIP(conn.RemoteAddr())
			if ok {
				if d := list.Check(ip); !d.Allowed {
					return server.WithReason(server.ReasonDenied, fmt.Errorf("%w %s by rule %q", ErrRefused, ip, d.Reason))
				}
			}
			return next.ServeConn(ctx, conn)
		})
	}
}

// MaxConnsPerIP refuses a connection when its source already has max open.
// Zero or less means no cap.
func MaxConnsPerIP(max int) server.Middleware {
	return func(next server.Handler) server.Handler {
		if max <= 0 {
			return next
		}
		counter := access.NewConnCounter(max)
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			ip, ok := access.SourceIP(conn.RemoteAddr())
			if !ok {
				return next.ServeConn(ctx, conn)
			}
			if !counter.Acquire(ip) {
				return server.WithReason(server.ReasonMaxConns, fmt.Errorf("%w %s by rule \"max-conns-per-ip %d\"", ErrRefused, ip, max))
			}
			defer counter.Release(ip)
			return next.ServeConn(ctx, conn)
		})
	}
}

// Rate refuses a connection when its source has opened more than perSecond
// new connections a second (bursts of burst; zero means max(1, perSecond)).
// Zero or less perSecond means no limit.
func Rate(perSecond float64, burst int) server.Middleware {
	return func(next server.Handler) server.Handler {
		if perSecond <= 0 {
			return next
		}
		lim := access.NewRateLimiter(perSecond, burst)
		rule := fmt.Sprintf("rate %g/s", perSecond)
		return server.HandlerFunc(func(ctx context.Context, conn net.Conn) error {
			if ip, ok := access.SourceIP(conn.RemoteAddr()); ok && !lim.Allow(ip) {
				return server.WithReason(server.ReasonDenied, fmt.Errorf("%w %s by rule %q", ErrRefused, ip, rule))
			}
			return next.ServeConn(ctx, conn)
		})
	}
}
