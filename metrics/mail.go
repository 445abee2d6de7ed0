package metrics

import "context"

// Sender sends one plain-text email (service.Mailer, *mail.SMTP).
type Sender interface {
	Send(ctx context.Context, to, subject, body string) error
}

// CountMail returns s counting each Send into q2o_mail_total{result}.
func (m *Metrics) CountMail(s Sender) Sender { return countedSender{s, m} }

type countedSender struct {
	next Sender
	m    *Metrics
}

func (c countedSender) Send(ctx context.Context, to, subject, body string) error {
	err := c.next.Send(ctx, to, subject, body)
	result := "sent"
	if err != nil {
		result = "failed"
	}
	c.m.Mails.WithLabelValues(result).Inc()
	return err
}
