// Package proxy holds the end-to-end tests of sockit's proxies (issue 3):
// curl and ncat as clients of sockit's SOCKS5 and HTTP CONNECT servers, and
// sockit's --via through them and through ncat's own HTTP proxy. They run
// the real sockit binary and the Debian peers as child processes.
//
//	go test -race ./interop/proxy/
package proxy
