package app

import (
	"fmt"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Redis says where q2o's Redis is: the one server of URL, or, with
// Sentinels, the master the Sentinels know as MasterName (URL's host is
// then ignored; its user, password, DB number and rediss:// still apply).
type Redis struct {
	URL              string
	Sentinels        []string
	MasterName       string
	SentinelPassword string
}

// RedisClients builds q2o's two kinds of Redis client from r: asynq's
// connection option (the enqueuer, the inspector and the worker's server)
// and the go-redis client of the live events and the rate limits. Both
// follow a Sentinel failover, so a Sentinel deployment changes nothing
// else. The go-redis client honours the caller's deadlines on a stalled
// connection (ContextTimeoutEnabled); the caller closes it.
// Errors: a URL that is not redis:// or rediss:// (naming Q2O_REDIS_URL).
func RedisClients(r Redis) (asynq.RedisConnOpt, *redis.Client, error) {
	o, err := redis.ParseURL(r.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("Q2O_REDIS_URL: %w", err)
	}
	o.ContextTimeoutEnabled = true // our deadlines (publishing live events, /readyz) hold on a stalled connection
	if len(r.Sentinels) == 0 {
		q, err := asynq.ParseRedisURI(r.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("Q2O_REDIS_URL: %w", err)
		}
		return q, redis.NewClient(o), nil
	}
	addrs := make([]string, len(r.Sentinels))
	for i, a := range r.Sentinels {
		addrs[i] = strings.TrimSpace(a)
	}
	q := asynq.RedisFailoverClientOpt{MasterName: r.MasterName, SentinelAddrs: addrs, SentinelPassword: r.SentinelPassword,
		Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig}
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: r.MasterName, SentinelAddrs: addrs,
		SentinelPassword: r.SentinelPassword, Username: o.Username, Password: o.Password, DB: o.DB,
		TLSConfig: o.TLSConfig, ContextTimeoutEnabled: true})
	return q, c, nil
}
