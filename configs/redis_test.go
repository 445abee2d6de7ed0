package configs

import (
	"strings"
	"testing"
)

func TestRedisSentinelSettings(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		refused string // the variable the error names; empty: accepted
	}{
		{"sentinels and master", map[string]string{"Q2O_REDIS_SENTINELS": "10.0.0.5:26379, 10.0.0.6:26379", "Q2O_REDIS_MASTER_NAME": "q2o"}, ""},
		{"sentinels with the URL's host too", map[string]string{"Q2O_REDIS_SENTINELS": "s1:26379", "Q2O_REDIS_MASTER_NAME": "q2o",
			"Q2O_REDIS_URL": "redis://:secret@cache:6379/4"}, ""},
		{"sentinels without a master", map[string]string{"Q2O_REDIS_SENTINELS": "s1:26379"}, "Q2O_REDIS_MASTER_NAME"},
		{"a master without sentinels", map[string]string{"Q2O_REDIS_MASTER_NAME": "q2o"}, "Q2O_REDIS_MASTER_NAME"},
		{"a sentinel without a port", map[string]string{"Q2O_REDIS_SENTINELS": "s1:26379,s2", "Q2O_REDIS_MASTER_NAME": "q2o"}, "Q2O_REDIS_SENTINELS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := Load("")
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Fatalf("error %v, want one naming %s", err, tc.refused)
			case tc.refused == "" && len(cfg.RedisSentinels) == 0:
				t.Fatal("no sentinels loaded")
			}
		})
	}
}
