package prom

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBrokerMetricsExposed(t *testing.T) {
	reg := NewRegistry()
	b, err := NewBroker(reg)
	if err != nil {
		t.Fatal(err)
	}
	b.ClientJoined()
	b.ClientJoined()
	b.ClientLeft("slow-consumer")
	b.Dropped("slow-consumer")
	b.Received("local", 10)
	b.Received("cluster", 5)
	b.Delivered(3, 30)

	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"sockit_broker_clients 1",
		"sockit_broker_clients_joined_total 2",
		`sockit_broker_clients_left_total{reason="slow-consumer"} 1`,
		`sockit_broker_dropped_total{reason="slow-consumer"} 1`,
		`sockit_broker_messages_received_total{source="local"} 1`,
		`sockit_broker_received_bytes_total{source="cluster"} 5`,
		"sockit_broker_messages_delivered_total 3",
		"sockit_broker_delivered_bytes_total 30",
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if _, err := NewBroker(reg); err == nil {
		t.Error("registering twice should fail")
	}
}
