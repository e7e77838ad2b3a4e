package sagas

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
func HelpdeskSchema() wsql.SchemaAdapter { return helpdeskSchema{} }

// helpdeskSchema is watermill-sql's PostgreSQL schema that also tells the
// handler where its message is stored, so that the message can be
// deleted by primary key: by uuid, which is not indexed, draining a
// backlog would scan what is left of it for every message.
type helpdeskSchema struct{ wsql.DefaultPostgreSQLSchema }

// Where a helpdesk message is stored: its row's primary key.
const (
	metaHelpdeskTransaction = "_helpdesk_transaction_id"
	metaHelpdeskOffset      = "_helpdesk_offset"
)

func (s helpdeskSchema) UnmarshalMessage(params wsql.UnmarshalMessageParams) (wsql.Row, error) {
	r, err := s.DefaultPostgreSQLSchema.UnmarshalMessage(params)
	if err != nil {
		return r, err
	}
	xid, ok := r.ExtraData["transaction_id"].(wsql.XID8)
	if !ok {
		return r, fmt.Errorf("helpdesk message %s: no transaction id", r.UUID)
	}
	r.Msg.Metadata.Set(metaHelpdeskTransaction, strconv.FormatUint(uint64(xid), 10))
	r.Msg.Metadata.Set(metaHelpdeskOffset, strconv.FormatInt(r.Offset, 10))
	return r, nil
}

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
	if _, err := tx.ExecContext(msg.Context(), `DELETE FROM `+(helpdeskSchema{}).MessagesTable(HelpdeskTopic)+` WHERE transaction_id = $1::text::xid8 AND "offset" = $2::bigint`,
		msg.Metadata.Get(metaHelpdeskTransaction), msg.Metadata.Get(metaHelpdeskOffset)); err != nil {
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
