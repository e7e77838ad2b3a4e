package eventstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// BusConfig names where committed events go on NATS JetStream: one stream,
// one subject per partition (<Subject>.<n>). All events of an organization
// share a partition, so each stream's events keep their order on the bus.
type BusConfig struct {
	URL        string
	Stream     string        // JetStream stream, e.g. GATEHOUSE
	Subject    string        // subject prefix, e.g. gatehouse.events
	Partitions int           // fixed for the life of the stream
	Duplicates time.Duration // JetStream de-duplication window (by event id)
}

// DefaultBus is the bus of a default deployment.
func DefaultBus(url string) BusConfig {
	return BusConfig{URL: url, Stream: "GATEHOUSE", Subject: "gatehouse.events", Partitions: 16, Duplicates: 10 * time.Minute}
}

// PartitionSubject is the subject of partition n.
func (c BusConfig) PartitionSubject(n int) string { return c.Subject + "." + strconv.Itoa(n) }

// PartitionOf is the partition of an organization's events.
func (c BusConfig) PartitionOf(orgID string) int {
	h := fnv.New32a()
	h.Write([]byte(orgID))
	return int(h.Sum32() % uint32(c.Partitions))
}

// ConnectBus connects to NATS, retrying and reconnecting for ever: a
// restarted NATS server is found again without a restart of ours.
func ConnectBus(c BusConfig, name string, log zerolog.Logger) (*nats.Conn, error) {
	return nats.Connect(c.URL, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn().Err(err).Msg("NATS disconnected") }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info().Str("url", nc.ConnectedUrl()).Msg("NATS reconnected") }))
}

// EnsureBusStream creates the JetStream stream, or updates its
// de-duplication window.
func EnsureBusStream(js nats.JetStreamManager, c BusConfig) error {
	if c.Partitions < 1 {
		return errors.New("the bus needs at least one partition")
	}
	cfg := &nats.StreamConfig{Name: c.Stream, Subjects: []string{c.Subject + ".>"}, Storage: nats.FileStorage,
		Retention: nats.LimitsPolicy, Duplicates: c.Duplicates}
	var err error
	for attempt := 0; attempt < 40; attempt++ { // a server just (re)started may not have JetStream ready yet
		if _, err = js.StreamInfo(c.Stream); errors.Is(err, nats.ErrStreamNotFound) {
			_, err = js.AddStream(cfg)
		} else if err == nil {
			_, err = js.UpdateStream(cfg)
		}
		if err == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("create JetStream stream %s: %w", c.Stream, err)
}

// RelayGroup is the relay's consumer group on the events table.
const RelayGroup = "nats-relay"

// Relay moves committed events from the events table to JetStream. It
// reads them like any read model (a watermill-sql subscriber, in commit
// order) and publishes each with watermill-nats, waiting for JetStream's
// acknowledgement before the next, so per-stream order holds. Its offset
// commits only after the publish: a relay that dies in between publishes
// again after its restart, and JetStream drops the copy by its message id
// (the event id) within the de-duplication window.
type Relay struct {
	router *message.Router
	conn   *nats.Conn
}

// NewRelay wires the relay; Run starts it.
func NewRelay(store *Store, wake *Wakeup, c BusConfig, log zerolog.Logger) (*Relay, error) {
	conn, err := ConnectBus(c, "gatehouse-relay", log)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	js, err := conn.JetStream()
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := EnsureBusStream(js, c); err != nil {
		conn.Close()
		return nil, err
	}
	wlog := WatermillLogger(log.With().Str("component", "relay").Logger())
	pub, err := wnats.NewPublisherWithNatsConn(conn, wnats.PublisherPublishConfig{
		Marshaler:         &wnats.NATSMarshaler{},
		SubjectCalculator: wnats.DefaultSubjectCalculator,
		JetStream:         wnats.JetStreamConfig{TrackMsgId: true, PublishOptions: []nats.PubOpt{nats.ExpectStream(c.Stream), nats.AckWait(5 * time.Second)}},
	}, wlog)
	if err != nil {
		conn.Close()
		return nil, err
	}
	sub, err := store.NewSubscriber(SubscriberConfig{ConsumerGroup: RelayGroup, Wakeup: wake}, wlog)
	if err != nil {
		conn.Close()
		return nil, err
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wlog)
	if err != nil {
		conn.Close()
		return nil, err
	}
	router.AddConsumerHandler("nats-relay", Topic, sub, func(msg *message.Message) error {
		org := msg.Metadata.Get(MetaOrgID)
		out := message.NewMessage(msg.UUID, msg.Payload)
		out.Metadata = msg.Metadata
		if err := pub.Publish(c.PartitionSubject(c.PartitionOf(org)), out); err != nil {
			log.Warn().Err(err).Str("event_id", msg.UUID).Msg("publish to JetStream failed; will retry")
			return fmt.Errorf("publish event %s: %w", msg.UUID, err)
		}
		return nil
	})
	return &Relay{router: router, conn: conn}, nil
}

// Run relays until ctx ends or Close is called.
func (r *Relay) Run(ctx context.Context) error {
	defer r.conn.Close()
	return r.router.Run(ctx)
}

// Running is closed once the relay runs.
func (r *Relay) Running() chan struct{} { return r.router.Running() }

// Close stops the relay after the event in hand.
func (r *Relay) Close() error { return r.router.Close() }
