// Package prom exports sockit's metrics to Prometheus. It is the only
// package that imports the Prometheus client; the services report through
// the small interfaces of package metrics.
package prom

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sockit/metrics"
)

// NewRegistry returns a registry with the Go runtime and process
// collectors, ready for the sockit collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg's metrics in the Prometheus exposition format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// Broker is a metrics.Broker backed by Prometheus collectors named
// sockit_broker_*.
type Broker struct {
	clients        prometheus.Gauge
	joined         prometheus.Counter
	left           *prometheus.CounterVec
	received       *prometheus.CounterVec
	receivedBytes  *prometheus.CounterVec
	localIn        prometheus.Counter // received{source="local"}, resolved once
	localInBytes   prometheus.Counter
	clusterIn      prometheus.Counter
	clusterInBytes prometheus.Counter
	delivered      prometheus.Counter
	deliveredBytes prometheus.Counter
	dropped        *prometheus.CounterVec
}

var _ metrics.Broker = (*Broker)(nil)

// NewBroker creates the broker's collectors and registers them with reg.
func NewBroker(reg prometheus.Registerer) (*Broker, error) {
	b := &Broker{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sockit_broker_clients", Help: "Clients connected now.",
		}),
		joined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sockit_broker_clients_joined_total", Help: "Clients that connected.",
		}),
		left: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sockit_broker_clients_left_total", Help: "Clients that went away, by the reason their connection ended.",
		}, []string{"reason"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sockit_broker_messages_received_total", Help: "Messages received, from local clients or other instances.",
		}, []string{"source"}),
		receivedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sockit_broker_received_bytes_total", Help: "Bytes received, from local clients or other instances.",
		}, []string{"source"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sockit_broker_messages_delivered_total", Help: "Messages written to clients (one per recipient).",
		}),
		deliveredBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sockit_broker_delivered_bytes_total", Help: "Bytes written to clients.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sockit_broker_dropped_total", Help: "Clients or messages dropped, by reason.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{b.clients, b.joined, b.left, b.received, b.receivedBytes, b.delivered, b.deliveredBytes, b.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	b.localIn, b.localInBytes = b.received.WithLabelValues("local"), b.receivedBytes.WithLabelValues("local")
	b.clusterIn, b.clusterInBytes = b.received.WithLabelValues("cluster"), b.receivedBytes.WithLabelValues("cluster")
	b.dropped.WithLabelValues("slow-consumer") // show the series at zero
	return b, nil
}

// ClientJoined counts a client that connected.
func (b *Broker) ClientJoined() {
	b.joined.Inc()
	b.clients.Inc()
}

// ClientLeft counts a client that went away.
func (b *Broker) ClientLeft(reason string) {
	b.left.WithLabelValues(reason).Inc()
	b.clients.Dec()
}

// Received counts a message of n bytes from source.
func (b *Broker) Received(source string, n int) {
	switch source {
	case "local":
		b.localIn.Inc()
		b.localInBytes.Add(float64(n))
	case "cluster":
		b.clusterIn.Inc()
		b.clusterInBytes.Add(float64(n))
	default:
		b.received.WithLabelValues(source).Inc()
		b.receivedBytes.WithLabelValues(source).Add(float64(n))
	}
}

// Delivered counts msgs messages of n bytes in all written to clients.
func (b *Broker) Delivered(msgs, n int) {
	b.delivered.Add(float64(msgs))
	b.deliveredBytes.Add(float64(n))
}

// Dropped counts one drop for reason.
func (b *Broker) Dropped(reason string) {
	b.dropped.WithLabelValues(reason).Inc()
}
