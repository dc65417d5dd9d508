package envelope_test

import (
	"context"
	"fmt"

	"gocloud.dev/secrets/localsecrets"

	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
)

// Seal a zstd-compressed bundle for one tenant and open it again.
func ExampleSeal() {
	ctx := context.Background()
	var kek [32]byte // in production: a KMS key behind gocloud.dev/secrets
	keys := envelope.Keepers{"practice-kek-2026": localsecrets.NewKeeper(kek)}
	b := envelope.Binding{URI: "file:///var/bundles/p1/0001.tfe", Tenant: "p1", KeyID: "practice-kek-2026"}

	packed, _ := envelope.Compress([]byte(`{"resourceType":"Bundle"}`), envelope.Zstd)
	obj, err := envelope.Seal(ctx, keys, b, envelope.Zstd, packed)
	if err != nil {
		panic(err)
	}
	pt, comp, err := envelope.Open(ctx, keys, b, obj, nil)
	if err != nil {
		panic(err)
	}
	json, err := envelope.Decompress(nil, pt, comp, 1<<20)
	fmt.Println(string(json), err)
	// Output: {"resourceType":"Bundle"} <nil>
}
