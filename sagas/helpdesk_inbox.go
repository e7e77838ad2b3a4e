package sagas

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"gatehouse/commands"
	"gatehouse/domain"
)

// HelpdeskTopic is the Watermill topic (watermill-sql's PostgreSQL schema,
// table watermill_helpdesk) on which a helpdesk may publish its events
// directly instead of calling POST /events/tickets and /events/orders.
const HelpdeskTopic = "helpdesk"

// HelpdeskMessage is the payload of a message on HelpdeskTopic. Type is
// "ticket_created" (with Ticket) or "order_confirmed" (with Order).
type HelpdeskMessage struct {
	Type   string                 `json:"type"`
	OrgID  string                 `json:"org_id"`
	Ticket *commands.RecordTicket `json:"ticket,omitempty"`
	Order  *commands.RecordOrder  `json:"order,omitempty"`
}

// HelpdeskSchema is the watermill-sql schema of the helpdesk topic.
func HelpdeskSchema() wsql.DefaultPostgreSQLSchema { return wsql.DefaultPostgreSQLSchema{} }

// HelpdeskOffsets is the offsets adapter of the helpdesk topic.
func HelpdeskOffsets() wsql.OffsetsAdapter { return wsql.DefaultPostgreSQLOffsetsAdapter{} }

// AddHelpdeskInbox consumes the helpdesk topic on router: each message is
// recorded like the HTTP events (once per ticket or order id). A message
// that can never be recorded (bad JSON, unknown type, invalid fields) is
// logged and dropped; anything else is retried. A message dealt with is
// deleted from the topic's table in the delivery's transaction, with its
// offset: it names a contact in clear, and the log now holds what it said
// sealed (so erasing the contact erases it), or it is worthless.
func AddHelpdeskInbox(router *message.Router, pool *pgxpool.Pool, app *commands.App, log zerolog.Logger, wlog watermill.LoggerAdapter) error {
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(pool), wsql.SubscriberConfig{
		ConsumerGroup:    "helpdesk-inbox",
		PollInterval:     200 * time.Millisecond,
		SchemaAdapter:    HelpdeskSchema(),
		OffsetsAdapter:   HelpdeskOffsets(),
		InitializeSchema: true,
	}, wlog)
	if err != nil {
		return fmt.Errorf("helpdesk inbox: %w", err)
	}
	router.AddConsumerHandler("helpdesk-inbox", HelpdeskTopic, sub, func(msg *message.Message) error {
		err := recordHelpdesk(msg, app)
		var de *domain.Error
		if errors.As(err, &de) || errors.Is(err, errBadHelpdeskMessage) {
			log.Warn().Err(err).Str("message_uuid", msg.UUID).Msg("helpdesk message dropped")
			err = nil
		}
		if err != nil {
			return err
		}
		return deleteHelpdeskMessage(msg)
	})
	return nil
}

func deleteHelpdeskMessage(msg *message.Message) error {
	tx, ok := wsql.TxFromContext(msg.Context())
	if !ok {
		return fmt.Errorf("helpdesk message %s: no delivery transaction", msg.UUID)
	}
	if _, err := tx.ExecContext(msg.Context(), `DELETE FROM `+HelpdeskSchema().MessagesTable(HelpdeskTopic)+` WHERE uuid = $1`, msg.UUID); err != nil {
		return fmt.Errorf("delete helpdesk message %s: %w", msg.UUID, err)
	}
	return nil
}

var errBadHelpdeskMessage = errors.New("bad helpdesk message")

func recordHelpdesk(msg *message.Message, app *commands.App) error {
	var m HelpdeskMessage
	if err := json.Unmarshal(msg.Payload, &m); err != nil {
		return fmt.Errorf("%w: %v", errBadHelpdeskMessage, err)
	}
	if !domain.ValidID(m.OrgID) {
		return fmt.Errorf("%w: org_id", errBadHelpdeskMessage)
	}
	meta := commands.Meta{Org: domain.OrgID(m.OrgID), Trigger: domain.TriggerManual,
		Actor:         domain.Actor{Kind: domain.ActorSystem, ID: "helpdesk", Name: "helpdesk topic"},
		CorrelationID: msg.Metadata.Get("correlation_id"), CausationID: msg.UUID}
	if _, err := app.Portal(msg.Context(), meta.Org); err != nil {
		return err // an unknown organization is a refusal: dropped
	}
	switch {
	case m.Type == "ticket_created" && m.Ticket != nil:
		return app.RecordTicket(msg.Context(), meta, *m.Ticket)
	case m.Type == "order_confirmed" && m.Order != nil:
		return app.RecordOrder(msg.Context(), meta, *m.Order)
	}
	return fmt.Errorf("%w: type %q", errBadHelpdeskMessage, m.Type)
}
