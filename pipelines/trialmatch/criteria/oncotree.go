package criteria

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// oncotreeJSON is MatchMiner's OncoTree expansion table (Apache-2.0, see
// oncotree_mapping.NOTICE).
//
//go:embed oncotree_mapping.json
var oncotreeJSON []byte

var (
	oncotreeOnce sync.Once
	oncotreeMap  map[string][]string
)

// Oncotree returns the embedded OncoTree mapping: each node name, including
// the pseudo-nodes "_SOLID_" and "_LIQUID_", to the sorted names of the node
// and all its descendants. The map is shared: do not modify it.
func Oncotree() map[string][]string {
	oncotreeOnce.Do(func() {
		m := map[string][]string{}
		if err := json.Unmarshal(oncotreeJSON, &m); err != nil {
			// Embedded at build time; a broken file is a programming error.
			panic(fmt.Sprintf("criteria: embedded oncotree_mapping.json: %v", err))
		}
		for _, v := range m {
			sort.Strings(v)
		}
		oncotreeMap = m
	})
	return oncotreeMap
}
