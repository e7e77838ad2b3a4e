package eventstore

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/rs/zerolog"
)

// WatermillLogger adapts zerolog to Watermill's logger interface, so routers
// and subscribers log like the rest of the service.
func WatermillLogger(log zerolog.Logger) watermill.LoggerAdapter {
	return zerologAdapter{log: log}
}

type zerologAdapter struct{ log zerolog.Logger }

func withFields(e *zerolog.Event, fields watermill.LogFields) *zerolog.Event {
	for k, v := range fields {
		e = e.Interface(k, v)
	}
	return e
}

func (z zerologAdapter) Error(msg string, err error, fields watermill.LogFields) {
	withFields(z.log.Error().Err(err), fields).Msg(msg)
}
func (z zerologAdapter) Info(msg string, fields watermill.LogFields) {
	withFields(z.log.Info(), fields).Msg(msg)
}
func (z zerologAdapter) Debug(msg string, fields watermill.LogFields) {
	withFields(z.log.Debug(), fields).Msg(msg)
}
func (z zerologAdapter) Trace(msg string, fields watermill.LogFields) {
	withFields(z.log.Trace(), fields).Msg(msg)
}
func (z zerologAdapter) With(fields watermill.LogFields) watermill.LoggerAdapter {
	ctx := z.log.With()
	for k, v := range fields {
		ctx = ctx.Interface(k, v)
	}
	return zerologAdapter{log: ctx.Logger()}
}
