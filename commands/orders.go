package commands

import (
	"context"

	"gatehouse/domain"
)

// RecordOrder is an order confirmation the helpdesk reports.
type RecordOrder struct {
	OrderID   string `json:"order_id"`
	CompanyID string `json:"company_id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

// RecordOrder records OrderConfirmed once per order id.
func (a *App) RecordOrder(ctx context.Context, meta Meta, cmd RecordOrder) error {
	company, err := a.company(ctx, meta.Org, domain.CompanyID(cmd.CompanyID))
	if err != nil {
		return err
	}
	_, err = execute[domain.Order](ctx, a, meta, change[*domain.Order, struct{}]{
		name:    "RecordOrder",
		stream:  "order-" + string(meta.Org) + "-" + cmd.OrderID,
		subject: cmd.OrderID,
		request: cmd,
		decide: func(o *domain.Order, _ int) ([]domain.Event, error) {
			return o.Record(domain.NewOrder{OrgID: meta.Org, OrderID: cmd.OrderID, CompanyID: domain.CompanyID(cmd.CompanyID), Company: company,
				FirstName: cmd.FirstName, LastName: cmd.LastName, Email: cmd.Email})
		},
		result: func(*domain.Order, streamInfo) (struct{}, error) { return struct{}{}, nil },
	})
	return err
}
