-- +goose Up
-- Stripe billing: every webhook event seen (dedupe and audit), the billing
-- history (invoices), and what a subscription needs beyond its status.

CREATE TABLE stripe_events (
    id           text PRIMARY KEY,          -- Stripe's event id (evt_…): one row per event, ever
    type         text NOT NULL,
    created      timestamptz NOT NULL,      -- the event's own `created` (Stripe's clock)
    livemode     boolean NOT NULL DEFAULT false,
    tenant_id    uuid REFERENCES tenants (id) ON DELETE SET NULL,
    object_id    text,                      -- the subscription, invoice or session it was about
    -- applied: it changed our rows; stale: an older event than the one that
    -- last set the subscription; ignored: a type we do not act on;
    -- unmatched: no tenant could be found for it.
    outcome      text NOT NULL CHECK (outcome IN ('applied', 'stale', 'ignored', 'unmatched')),
    note         text NOT NULL DEFAULT '',
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_tenant_idx ON stripe_events (tenant_id, created DESC);

CREATE TABLE invoices (
    id                     text PRIMARY KEY,  -- Stripe's invoice id (in_…)
    tenant_id              uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    stripe_subscription_id text,
    number                 text,
    status                 text NOT NULL,     -- Stripe's invoice status: draft, open, paid, uncollectible, void
    amount_due             bigint NOT NULL DEFAULT 0,
    amount_paid            bigint NOT NULL DEFAULT 0,
    currency               text NOT NULL DEFAULT 'usd',
    hosted_invoice_url     text,
    invoice_pdf            text,
    period_start           timestamptz,
    period_end             timestamptz,
    invoice_created        timestamptz NOT NULL,  -- the invoice's date at Stripe
    stripe_event_created   timestamptz NOT NULL,  -- the event that last set this row (ordering)
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_tenant_idx ON invoices (tenant_id, invoice_created DESC);

-- When the subscription became past_due (for the grace period), and the
-- Stripe price it is on.
ALTER TABLE subscriptions ADD COLUMN past_due_since timestamptz;
ALTER TABLE subscriptions ADD COLUMN stripe_price_id text;

-- A price belongs to one plan: the plan of a subscription is found by its price.
CREATE UNIQUE INDEX plans_stripe_price_id_key ON plans (stripe_price_id) WHERE stripe_price_id IS NOT NULL;

-- +goose Down
DROP INDEX plans_stripe_price_id_key;
ALTER TABLE subscriptions DROP COLUMN stripe_price_id;
ALTER TABLE subscriptions DROP COLUMN past_due_since;
DROP TABLE invoices;
DROP TABLE stripe_events;
