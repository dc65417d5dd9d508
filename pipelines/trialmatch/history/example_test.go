package history_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/history"
	"github.com/trialflow/trialflow/schemas"
)

func ExampleWriter() {
	dir, _ := os.MkdirTemp("", "history")
	defer os.RemoveAll(dir)

	w := history.NewWriter(dir)
	defer w.Release()
	at := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	for i, tenant := range []string{"practice-01", "practice-02", "practice-01"} {
		err := w.Add(&schemas.ApprovedPatient{
			MatchID: fmt.Sprint("m", i), Tenant: tenant, PatientID: fmt.Sprint("p", i), ProtocolNo: "17-251",
			ArmCode: schemas.Ptr("A"), Action: "NEW", TrialVersion: 1, EventTime: at, MatchTime: at.Add(time.Second),
			Reasons: []schemas.MatchReason{{ReasonType: "GENOMIC", Field: "hugo_symbol", Alteration: schemas.Ptr("KRAS G12C")}},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	files, err := w.Flush()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range files {
		rel, _ := filepath.Rel(dir, filepath.Dir(f.Path))
		fmt.Println(filepath.ToSlash(rel), f.Rows)
	}
	rows, err := history.Read(dir)
	fmt.Println(len(rows), err)
	// Output:
	// tenant=practice-01/date=2026-01-05 2
	// tenant=practice-02/date=2026-01-05 1
	// 3 <nil>
}
