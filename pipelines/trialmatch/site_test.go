package trialmatch_test

import (
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/schemas"
)

func init() {
	register.Function1x1(describeAtSite)
}

// describeAtSite is describe with the record's site ("@-" when none).
func describeAtSite(r schemas.ApprovedPatient) string {
	site := "-"
	if r.SiteID != nil {
		site = *r.SiteID
	}
	return describe(r) + " @" + site
}

// Sites end to end (issue 17): a patient's care site is their practice. An
// arm approved at site A and suspended at site B matches A's patient only;
// a suspension of one site retracts that site's matches only; a trial that
// names no site matches everywhere, with no site named.
func TestSiteScenarios(t *testing.T) {
	for _, e := range []trialmatch.Execution{trialmatch.Streaming, trialmatch.Batch} {
		t.Run(e.String(), func(t *testing.T) { testSites(t, e) })
	}
}

func testSites(t *testing.T, e trialmatch.Execution) {
	lung := arm("X", clin("oncotree_primary_diagnosis", "Lung"), gen("hugo_symbol", "EGFR", "protein_change", "p.L858R", "variant_category", "Mutation"))
	breast := arm("Y", clin("oncotree_primary_diagnosis", "Breast", "her2_status", "Positive"))
	trials := []schemas.Trial{
		{ProtocolNo: "S1", Version: 1, EventTime: at(0), Status: "OPEN", CTMLFormat: "JSON", CTML: ctml("S1", lung), Sites: []string{"A", "B"}},
		{ProtocolNo: "S2", Version: 1, EventTime: at(0), Status: "OPEN", CTMLFormat: "JSON", CTML: ctml("S2", breast), Sites: []string{"A", "B"}},
		{ProtocolNo: "S3", Version: 1, EventTime: at(0), Status: "OPEN", CTMLFormat: "JSON", CTML: ctml("S3", breast)},
	}
	siteA, siteB, x := "A", "B", "X"
	reg := []schemas.RegulatoryEvent{
		{EventID: "s1", ProtocolNo: "S1", Scope: "TRIAL", Action: "APPROVED", ValidFrom: at(1), EventTime: at(1), Reference: "IRB-S1"},
		{EventID: "s1a", ProtocolNo: "S1", Scope: "ARM", ArmCode: &x, SiteID: &siteA, Action: "APPROVED", ValidFrom: at(1), EventTime: at(1), Reference: "IRB-S1-A"},
		{EventID: "s1b", ProtocolNo: "S1", Scope: "ARM", ArmCode: &x, SiteID: &siteB, Action: "SUSPENDED", ValidFrom: at(1), EventTime: at(1), Reference: "HOLD-S1-B"},
		{EventID: "s2", ProtocolNo: "S2", Scope: "TRIAL", Action: "APPROVED", ValidFrom: at(1), EventTime: at(1), Reference: "IRB-S2"},
		{EventID: "s2b", ProtocolNo: "S2", Scope: "SITE", SiteID: &siteB, Action: "SUSPENDED", ValidFrom: at(10), EventTime: at(10), Reference: "HOLD-S2-B"},
		{EventID: "s3", ProtocolNo: "S3", Scope: "TRIAL", Action: "APPROVED", ValidFrom: at(1), EventTime: at(1), Reference: "IRB-S3"},
	}
	b := &factBuilder{}
	for _, site := range []string{"A", "B"} {
		b.patient(site, "lung", 2, "Lung Adenocarcinoma")
		b.variant(site, "lung", 2.5, "EGFR", "p.L858R")
		b.patient(site, "breast", 2, "Breast Invasive Ductal Carcinoma")
		b.marker(site, "breast", 2.5, "HER2", "Positive", nil)
	}
	b.patient("C", "breast", 2, "Breast Invasive Ductal Carcinoma") // a practice no site-restricted trial names
	b.marker("C", "breast", 2.5, "HER2", "Positive", nil)

	p, s := beam.NewPipelineWithRoot()
	out := trialmatch.Build(s, trialmatch.Inputs{
		Facts:      beam.CreateList(s, b.facts),
		Trials:     beam.CreateList(s, trials),
		Regulatory: beam.CreateList(s, reg),
	}, trialmatch.Config{Shards: 2, Tick: time.Minute, Execution: e})
	passert.Equals(s, beam.ParDo(s, describeAtSite, out.Matches),
		"A lung S1 NEW X @A",
		"A breast S2 NEW Y @A",
		"A breast S3 NEW Y @-",
		"B breast S2 NEW Y @B",
		"B breast S2 RETRACTED:TRIAL_CLOSED @B",
		"B breast S3 NEW Y @-",
		"C breast S3 NEW Y @-",
	)
	ptest.RunAndValidate(t, p)
}
