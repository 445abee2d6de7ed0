-- +goose Up
-- A custom domain names one tenant's portal: two tenants may not claim the
-- same one. Domains are stored lower-cased by the service; the index is on
-- lower() all the same, for rows written before that rule. Where two
-- tenants already share a domain, the one that set it first keeps it.

UPDATE tenants t SET domain = NULL
WHERE domain IS NOT NULL AND EXISTS (
    SELECT 1 FROM tenants o
    WHERE lower(o.domain) = lower(t.domain) AND (o.created_at, o.id) < (t.created_at, t.id)
);
CREATE UNIQUE INDEX tenants_domain_key ON tenants (lower(domain)) WHERE domain IS NOT NULL;

-- +goose Down
DROP INDEX tenants_domain_key;
