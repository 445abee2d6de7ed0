package models

import (
	"time"

	"github.com/google/uuid"
)

// The rows of billing kept from Stripe: the events seen and the invoices.

// StripeEventRecord is a row of stripe_events.
type StripeEventRecord struct {
	ID          string `gorm:"primaryKey"`
	Type        string
	Created     time.Time
	Livemode    bool
	TenantID    *uuid.UUID `gorm:"type:uuid"`
	ObjectID    *string
	Outcome     string
	Note        string
	ProcessedAt time.Time
}

// TableName keeps GORM off its pluralising guess.
func (StripeEventRecord) TableName() string { return "stripe_events" }

// Invoice is a row of the billing history.
type Invoice struct {
	ID                   string     `gorm:"primaryKey" json:"id"`
	TenantID             uuid.UUID  `gorm:"type:uuid" json:"-"`
	StripeSubscriptionID *string    `json:"-"`
	Number               *string    `json:"number"`
	Status               string     `json:"status"`
	AmountDue            int64      `json:"amount_due"`
	AmountPaid           int64      `json:"amount_paid"`
	Currency             string     `json:"currency"`
	HostedInvoiceURL     *string    `json:"hosted_invoice_url"`
	InvoicePDF           *string    `json:"invoice_pdf"`
	PeriodStart          *time.Time `json:"period_start"`
	PeriodEnd            *time.Time `json:"period_end"`
	InvoiceCreated       time.Time  `json:"date"`
	StripeEventCreated   time.Time  `json:"-"`
	UpdatedAt            time.Time  `json:"-"`
}
