// Package tlsinterop holds the end-to-end tests of sockit's TLS endpoints
// (issue 3): the real sockit binary against the OpenSSL command-line tools,
// ncat --ssl and curl, both ways, with mutual TLS, verification failures that
// say why, and certificate reload on SIGHUP. Certificates are made in the
// tests with crypto/x509 (package tlstest).
//
// The package has no code of its own; run it with
//
//	go test -race ./interop/tls/
package tlsinterop
