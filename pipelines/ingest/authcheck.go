package ingest

import (
	"fmt"
	"sort"
	"strings"

	beammetrics "github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
)

// Counter names, per tenant, behind CheckAuthentication.
const (
	authFailedPrefix = "auth_failed/" // auth_failed/<tenant>/<key id>
	tenantOKPrefix   = "tenant_ok/"   // tenant_ok/<tenant>
)

func authFailedCounter(tenant, keyID string) string { return authFailedPrefix + tenant + "/" + keyID }
func tenantOKCounter(tenant string) string          { return tenantOKPrefix + tenant }

// CheckAuthentication returns an error naming every tenant all of whose
// claim checks in a run failed authentication (or named an unknown key),
// with the key ids they named: a wrong or rotated key-encryption key, not
// bad data, so the run must not end as a success with everything in
// dead_letter. It returns nil when every tenant ingested something.
func CheckAuthentication(r beammetrics.Results) error {
	failed := map[string]map[string]int64{} // tenant -> key id -> bundles
	ok := map[string]bool{}
	for _, c := range r.AllMetrics().Counters() {
		if c.Namespace() != MetricsNamespace || c.Result() == 0 {
			continue
		}
		if rest, found := strings.CutPrefix(c.Name(), authFailedPrefix); found {
			i := strings.LastIndex(rest, "/")
			tenant, key := rest[:i], rest[i+1:]
			if failed[tenant] == nil {
				failed[tenant] = map[string]int64{}
			}
			failed[tenant][key] += c.Result()
		} else if tenant, found := strings.CutPrefix(c.Name(), tenantOKPrefix); found {
			ok[tenant] = true
		}
	}
	var msgs []string
	for tenant, keys := range failed {
		if ok[tenant] {
			continue
		}
		var ks []string
		for k, n := range keys {
			ks = append(ks, fmt.Sprintf("key id %q (%d bundles)", k, n))
		}
		sort.Strings(ks)
		msgs = append(msgs, fmt.Sprintf("tenant %q: %s", tenant, strings.Join(ks, ", ")))
	}
	if len(msgs) == 0 {
		return nil
	}
	sort.Strings(msgs)
	return fmt.Errorf("ingest: every bundle of a tenant failed authentication (wrong or missing key-encryption key?): %s", strings.Join(msgs, "; "))
}
