package access

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ConnCounter caps the connections open at once from each source address.
// The zero value is not usable; use NewConnCounter.
type ConnCounter struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
}

// NewConnCounter returns a counter admitting at most max connections per
// source at once.
func NewConnCounter(max int) *ConnCounter {
	return &ConnCounter{max: max, n: make(map[netip.Addr]int)}
}

// Acquire counts one more connection from ip and reports true, or reports
// false (counting nothing) when ip already has the maximum. Every true must
// be matched by a Release.
func (c *ConnCounter) Acquire(ip netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[ip] >= c.max {
		return false
	}
	c.n[ip]++
	return true
}

// Release counts one connection from ip as closed. Sources with no open
// connection are forgotten, so memory follows the live connections.
func (c *ConnCounter) Release(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[ip] <= 1 {
		delete(c.n, ip)
		return
	}
	c.n[ip]--
}

// DefaultMaxSources bounds the sources a RateLimiter remembers at once.
const DefaultMaxSources = 65536

// RateLimiter admits new connections from each source address at a steady
// rate with bursts: one token bucket (golang.org/x/time/rate) per source.
//
// Memory stays bounded: a bucket that has refilled completely is exactly a
// new bucket, so it is forgotten at the next sweep (at most once a second),
// and at most MaxSources buckets exist at once; beyond that, new sources are
// refused until buckets refill.
type RateLimiter struct {
	limit      rate.Limit
	burst      int
	maxSources int
	now        func() time.Time

	mu        sync.Mutex
	buckets   map[netip.Addr]*rate.Limiter
	lastSweep time.Time
}

// NewRateLimiter admits perSecond new connections per second from each
// source, with bursts of burst (at least 1; zero means max(1, perSecond)).
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	if burst <= 0 {
		burst = max(1, int(perSecond))
	}
	return &RateLimiter{
		limit:      rate.Limit(perSecond),
		burst:      burst,
		maxSources: DefaultMaxSources,
		now:        time.Now,
		buckets:    make(map[netip.Addr]*rate.Limiter),
	}
}

// Allow takes a token from ip's bucket and reports whether there was one.
func (l *RateLimiter) Allow(ip netip.Addr) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[ip]
	if !ok {
		if now.Sub(l.lastSweep) >= time.Second || len(l.buckets) >= l.maxSources {
			l.sweep(now)
		}
		if len(l.buckets) >= l.maxSources {
			return false
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[ip] = b
	}
	return b.AllowN(now, 1)
}

// sweep forgets the buckets that are full again.
func (l *RateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for ip, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, ip)
		}
	}
}

// Sources returns how many source buckets are remembered (for tests and
// metrics).
func (l *RateLimiter) Sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
