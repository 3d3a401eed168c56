package sockit_test

import (
	"strings"
	"testing"
	"time"

	"sockit"
	"sockit/internal/testutil"
	"sockit/server"
	"sockit/service"
)

func TestTLSListenAndDialVerify(t *testing.T) {
	ctx := testutil.Context(t, 10*time.Second)
	ln, err := sockit.Listen(ctx, "tls://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Handler: service.Greet{}}
	go srv.Serve(ln)
	defer srv.Close()
	// The listener's certificate is self-signed, so a verifying client
	// refuses it and says why.
	_, err = sockit.Dial(ctx, "tls://"+ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("Dial of a self-signed TLS server = %v, want an unknown-authority refusal", err)
	}
}
