package models_test

import (
	"testing"
	"time"

	"github.com/q2o/q2o/internal/testenv"
	"github.com/q2o/q2o/models"
)

// TestCodeValidSQL checks that the SQL statements of the code rules
// (CodeValidSQL, CodeUsableSQL) answer as CodeValid and CodeUsable do, case
// by case, evaluated by Postgres on a row of the same values.
func TestCodeValidSQL(t *testing.T) {
	t.Parallel()
	gdb := testenv.Postgres(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Microsecond), now.Add(time.Microsecond)
	var codes []models.ActivationCode
	for _, revoked := range []*time.Time{nil, &past} {
		for _, expires := range []*time.Time{nil, &past, &now, &future} {
			for _, used := range []int{0, 1, 2} {
				codes = append(codes, models.ActivationCode{RevokedAt: revoked, ExpiresAt: expires, UseCount: used, MaxUses: 1})
			}
		}
	}
	for _, c := range codes {
		var valid, usable bool
		err := gdb.Raw(`SELECT `+models.CodeValidSQL("c")+`, `+models.CodeUsableSQL("c")+
			` FROM (VALUES (?::timestamptz, ?::timestamptz, ?::int, ?::int)) AS c(revoked_at, expires_at, use_count, max_uses)`,
			now, now, c.RevokedAt, c.ExpiresAt, c.UseCount, c.MaxUses).Row().Scan(&valid, &usable)
		if err != nil {
			t.Fatal(err)
		}
		if want := models.CodeValid(&c, now) == nil; valid != want {
			t.Errorf("revoked %v, expires %v: CodeValidSQL %v, CodeValid %v", c.RevokedAt, c.ExpiresAt, valid, want)
		}
		if want := models.CodeUsable(&c, now) == nil; usable != want {
			t.Errorf("revoked %v, expires %v, used %d of %d: CodeUsableSQL %v, CodeUsable %v",
				c.RevokedAt, c.ExpiresAt, c.UseCount, c.MaxUses, usable, want)
		}
	}
}
