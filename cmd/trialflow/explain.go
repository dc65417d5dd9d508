package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/history"
	"github.com/trialflow/trialflow/schemas"
)

func init() {
	register(command{
		name:    "explain",
		summary: "why a patient is or is not eligible for a trial, from the Parquet history",
		run:     explainCmd,
	})
}

func explainCmd(_ context.Context, fs *flag.FlagSet, args []string) error {
	var tenant, patient, trial, dir string
	fs.StringVar(&tenant, "tenant", "", "practice (tenant) of the patient (required)")
	fs.StringVar(&patient, "patient", "", "pseudonymous patient id, as in patient_facts (required)")
	fs.StringVar(&trial, "trial", "", "protocol number of the trial (required)")
	fs.StringVar(&dir, "history", "out/demo/history", "directory of the Parquet history (trialflow demo --out, match --history)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if tenant == "" || patient == "" || trial == "" {
		return errors.New("explain: --tenant, --patient and --trial are required")
	}
	return explain(os.Stdout, dir, tenant, patient, trial)
}

// explain prints, from the history under dir, the records published for
// one patient and trial, whether the patient is eligible now, why, and
// what would change it. It reads only the tenant's partition, and prints
// the pseudonym, never anything that identifies the patient.
func explain(out io.Writer, dir, tenant, patient, trial string) error {
	all, err := history.Read(dir)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	var recs []schemas.ApprovedPatient
	for _, r := range all {
		if r.Tenant == tenant && r.PatientID == patient && r.ProtocolNo == trial {
			recs = append(recs, r)
		}
	}
	// Event-time order, as the ledger applied them (decision time breaks ties).
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].EventTime.Equal(recs[j].EventTime) {
			return recs[i].EventTime.Before(recs[j].EventTime)
		}
		return recs[i].MatchTime.Before(recs[j].MatchTime)
	})
	fmt.Fprintf(out, "patient %s of %s, trial %s (history %s)\n", patient, tenant, trial, dir)
	if len(recs) == 0 {
		fmt.Fprintln(out, "\nnot eligible: no match was ever published for this patient and trial.")
		fmt.Fprintln(out, "what would change it: facts that satisfy one of the trial's arms, while the trial (and the arm) is open at the patient's site.")
		return nil
	}
	fmt.Fprintln(out, "\nhistory (event time, action):")
	for _, r := range recs {
		fmt.Fprintf(out, "  %s  %s", r.EventTime.UTC().Format(time.RFC3339), r.Action)
		if r.ArmCode != nil {
			fmt.Fprintf(out, "  arm %s", *r.ArmCode)
		}
		if r.DoseLevel != nil {
			fmt.Fprintf(out, "  dose level %s", *r.DoseLevel)
		}
		if r.SiteID != nil {
			fmt.Fprintf(out, "  at site %s", *r.SiteID)
		}
		if r.RetractionReason != nil {
			fmt.Fprintf(out, "  (%s)", *r.RetractionReason)
		}
		fmt.Fprintf(out, "  trial version %d\n", r.TrialVersion)
		for _, why := range r.Reasons {
			fmt.Fprintf(out, "      %s\n", reasonText(why))
		}
	}
	last := recs[len(recs)-1]
	var lastNew *schemas.ApprovedPatient
	for i := range recs {
		if recs[i].Action == decide.New {
			lastNew = &recs[i]
		}
	}
	where := ""
	if last.SiteID != nil {
		where = " at site " + *last.SiteID
	}
	arm := "the trial"
	if last.ArmCode != nil {
		arm = "arm " + *last.ArmCode
	}
	if last.Action == decide.New {
		fmt.Fprintf(out, "\neligible since %s: %s%s", last.EventTime.UTC().Format(time.RFC3339), arm, where)
		if last.ApprovalReference != nil {
			fmt.Fprintf(out, " (approval %s)", *last.ApprovalReference)
		}
		fmt.Fprintln(out, ", because:")
		for _, why := range last.Reasons {
			fmt.Fprintf(out, "  - %s\n", reasonText(why))
		}
		fmt.Fprintln(out, "what would change it: a later fact that contradicts one of these criteria (CRITERIA_NOT_MET),"+
			"\n  the arm or the trial closing"+where+" (ARM_CLOSED, TRIAL_CLOSED), or the patient's death (DECEASED).")
		return nil
	}
	reason := deref(last.RetractionReason)
	fmt.Fprintf(out, "\nnot eligible since %s: %s%s retracted, %s\n", last.EventTime.UTC().Format(time.RFC3339), arm, where, retractionText(reason))
	fmt.Fprint(out, "what would change it: ")
	switch reason {
	case decide.ArmClosed:
		fmt.Fprintf(out, "%s re-opening%s (the patient met its criteria when it closed).\n", arm, where)
	case decide.TrialClosed:
		fmt.Fprintf(out, "the trial re-opening%s (the patient met its criteria when it closed).\n", where)
	case decide.Deceased:
		fmt.Fprintln(out, "nothing: the patient is reported deceased.")
	case decide.CriteriaNotMet:
		fmt.Fprintln(out, "facts that satisfy the criteria again; the match rested on:")
		if lastNew != nil {
			for _, why := range lastNew.Reasons {
				fmt.Fprintf(out, "  - %s\n", reasonText(why))
			}
		}
	default:
		fmt.Fprintln(out, "unknown (no retraction reason recorded).")
	}
	return nil
}

func reasonText(r schemas.MatchReason) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.ReasonType))
	b.WriteString(" criterion ")
	b.WriteString(r.Field)
	if r.Alteration != nil && *r.Alteration != "" {
		b.WriteString(": ")
		b.WriteString(*r.Alteration)
	}
	if r.Level != nil && *r.Level != "" && *r.Level != "clinical" {
		b.WriteString(" (")
		b.WriteString(*r.Level)
		b.WriteString(" level)")
	}
	for i, f := range r.Facts {
		if i == 0 {
			b.WriteString("; decided by ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(f.Kind)
		b.WriteString(" of ")
		b.WriteString(f.EventTime.UTC().Format(time.RFC3339))
	}
	return b.String()
}

func retractionText(reason string) string {
	switch reason {
	case decide.ArmClosed:
		return "because the arm closed (ARM_CLOSED)"
	case decide.TrialClosed:
		return "because the trial closed (TRIAL_CLOSED)"
	case decide.Deceased:
		return "because the patient is reported deceased (DECEASED)"
	case decide.CriteriaNotMet:
		return "because newer facts no longer meet the criteria (CRITERIA_NOT_MET)"
	}
	return reason
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
