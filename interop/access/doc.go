// Package access holds the end-to-end tests of sockit's access control and
// PROXY protocol (issue 3): HAProxy with send-proxy-v2 in front of sockit
// serve --proxy-protocol, allow/deny rules seen from two source addresses,
// per-source rates and connection caps, and header timeouts against slow
// clients. They run the real sockit binary and HAProxy as child processes.
//
//	go test -race ./interop/access/
package access
