package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/trialflow/trialflow/schemas"
)

// Config sizes a data set.
type Config struct {
	Seed      uint64
	Tenants   int           // oncology practices
	Patients  int           // patients in all, spread over tenants
	Trials    int           // generated trials (each with 1-3 arms)
	Sites     int           // recruiting sites: the practices first, then hospitals (site-NN)
	Start     time.Time     // first event time
	Span      time.Duration // event times fall in [Start, Start+Span)
	Deceased  float64       // fraction of patients reported deceased late in the span
	Revisions float64       // fraction of patients whose biomarker result is later revised
}

// DefaultConfig is the demo's data set: several tenants, tens of thousands of
// patients.
func DefaultConfig() Config {
	return Config{
		Seed: 42, Tenants: 5, Patients: 20000, Trials: 40, Sites: 6,
		Start: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), Span: 72 * time.Hour,
		Deceased: 0.02, Revisions: 0.03,
	}
}

// Dataset is what Generate produces. Facts, Trials and Regulatory are each
// sorted by event time.
type Dataset struct {
	Tenants    []string
	Sites      []string
	Facts      []*schemas.PatientFact
	Trials     []*schemas.Trial
	Regulatory []*schemas.RegulatoryEvent
}

type cancer struct {
	name   string // OncoTree name, as MatchMiner names diagnoses
	code   string
	weight float64
}

var cancers = []cancer{
	{"Lung Adenocarcinoma", "LUAD", 0.22},
	{"Lung Squamous Cell Carcinoma", "LUSC", 0.08},
	{"Breast Invasive Ductal Carcinoma", "IDC", 0.20},
	{"Breast Invasive Lobular Carcinoma", "ILC", 0.05},
	{"Colon Adenocarcinoma", "COAD", 0.12},
	{"Rectal Adenocarcinoma", "READ", 0.04},
	{"Cutaneous Melanoma", "SKCM", 0.08},
	{"Prostate Adenocarcinoma", "PRAD", 0.10},
	{"Pancreatic Adenocarcinoma", "PAAD", 0.06},
	{"Glioblastoma", "GB", 0.05},
}

// Generate builds a data set for c.
func Generate(c Config) *Dataset {
	r := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	d := &Dataset{}
	for i := 0; i < max(c.Tenants, 1); i++ {
		d.Tenants = append(d.Tenants, fmt.Sprintf("practice-%02d", i+1))
	}
	// The practices are trial sites (a patient's care site is their
	// practice); sites beyond them are hospitals with no patients here.
	for i := 0; i < max(c.Sites, 1); i++ {
		if i < len(d.Tenants) {
			d.Sites = append(d.Sites, d.Tenants[i])
		} else {
			d.Sites = append(d.Sites, fmt.Sprintf("site-%02d", i+1))
		}
	}
	g := &gen{r: r, c: c, d: d}
	for i := 0; i < c.Patients; i++ {
		g.patient(i)
	}
	g.trials()
	sort.SliceStable(d.Facts, func(i, j int) bool { return d.Facts[i].EventTime.Before(d.Facts[j].EventTime) })
	sort.SliceStable(d.Trials, func(i, j int) bool { return d.Trials[i].EventTime.Before(d.Trials[j].EventTime) })
	sort.SliceStable(d.Regulatory, func(i, j int) bool { return d.Regulatory[i].EventTime.Before(d.Regulatory[j].EventTime) })
	return d
}

type gen struct {
	r    *rand.Rand
	c    Config
	d    *Dataset
	fact int
}

// Pseudonym is the synthetic patient id of patient i of a tenant: a hex
// digest, shaped like ingest's HMAC pseudonyms.
func Pseudonym(tenant string, i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "synthetic/%s/%d", tenant, i))
	return hex.EncodeToString(sum[:16])
}

func (g *gen) at(frac float64) time.Time {
	if frac < 0 {
		frac = 0
	}
	if frac >= 1 {
		frac = 0.999999
	}
	return g.c.Start.Add(time.Duration(frac * float64(g.c.Span))).Truncate(time.Millisecond)
}

func (g *gen) newFact(tenant, patient string, kind schemas.FactKind, at time.Time, source string) *schemas.PatientFact {
	g.fact++
	sum := sha256.Sum256(fmt.Appendf(nil, "fact/%d/%d", g.c.Seed, g.fact))
	id := hex.EncodeToString(sum[:16])
	f := &schemas.PatientFact{
		FactID: fmt.Sprintf("%s-%s-4%s-8%s-%s", id[0:8], id[8:12], id[13:16], id[17:20], id[20:32]),
		Tenant: tenant, PatientID: patient, EventTime: at, IngestTime: at.Add(2 * time.Minute),
		Source: source, Kind: kind,
	}
	g.d.Facts = append(g.d.Facts, f)
	return f
}

func (g *gen) pickCancer() cancer {
	x := g.r.Float64()
	for _, c := range cancers {
		if x < c.weight {
			return c
		}
		x -= c.weight
	}
	return cancers[0]
}

func (g *gen) patient(i int) {
	r := g.r
	tenant := g.d.Tenants[i%len(g.d.Tenants)]
	pid := Pseudonym(tenant, i)
	t0 := r.Float64() * 0.6 // the patient's first visit falls in the first 60% of the span
	step := func() float64 { t0 += r.Float64() * 0.05; return t0 }

	cx := g.pickCancer()
	gender := "Female"
	switch {
	case cx.code == "PRAD":
		gender = "Male"
	case cx.code == "IDC" || cx.code == "ILC":
		if r.Float64() < 0.01 {
			gender = "Male"
		}
	case r.Float64() < 0.5:
		gender = "Male"
	}
	age := 35 + r.IntN(50)
	if r.Float64() < 0.03 {
		age = 12 + r.IntN(6) // a few minors, for age criteria
	}
	birth := int32(g.c.Start.AddDate(-age, -r.IntN(12), -r.IntN(28)).Unix() / 86400)
	f := g.newFact(tenant, pid, schemas.KindDemographics, g.at(step()), "emr")
	f.Demographics = &schemas.Demographics{BirthDate: &birth, Gender: schemas.Ptr(gender),
		PostalRegion: schemas.Ptr(fmt.Sprintf("%03d", 10+r.IntN(980)))}

	f = g.newFact(tenant, pid, schemas.KindDiagnosis, g.at(step()), "emr")
	stage := []string{"I", "II", "III", "IV", "IV"}[r.IntN(5)]
	f.Diagnosis = &schemas.Diagnosis{OncotreeCode: schemas.Ptr(cx.code), OncotreePrimaryDiagnosis: cx.name,
		Stage: schemas.Ptr(stage), DiseaseStatus: schemas.Ptr(map[bool]string{true: "Metastatic", false: "Localized"}[stage == "IV"])}

	ecog := int32([]int{0, 0, 1, 1, 1, 2, 2, 3}[r.IntN(8)])
	f = g.newFact(tenant, pid, schemas.KindPerformance, g.at(step()), "emr")
	f.Performance = &schemas.PerformanceStatus{Scale: "ECOG", Value: ecog}

	lab := "sequencing-lab"
	variant := func(gene, cat, protein, class string) *schemas.PatientFact {
		f := g.newFact(tenant, pid, schemas.KindVariant, g.at(step()), lab)
		v := &schemas.Variant{HugoSymbol: schemas.Ptr(gene), VariantCategory: cat}
		if protein != "" {
			v.ProteinChange = schemas.Ptr(protein)
		}
		if class != "" {
			v.VariantClassification = schemas.Ptr(class)
		}
		if cat == "MUTATION" {
			v.AlleleFraction = schemas.Ptr(0.05 + 0.6*r.Float64())
		}
		f.Variant = v
		return f
	}
	marker := func(name string, value *float64, result string, loinc string) *schemas.PatientFact {
		f := g.newFact(tenant, pid, schemas.KindTumorMarker, g.at(step()), "pathology")
		m := &schemas.TumorMarker{Marker: name, Value: value}
		if result != "" {
			m.Result = schemas.Ptr(result)
		}
		if loinc != "" {
			m.LOINC = schemas.Ptr(loinc)
		}
		f.Marker = m
		return f
	}
	posneg := func(p float64) string {
		if r.Float64() < p {
			return "Positive"
		}
		return "Negative"
	}

	switch cx.code {
	case "LUAD", "LUSC":
		x := r.Float64()
		switch {
		case x < 0.15:
			variant("EGFR", "MUTATION", []string{"p.L858R", "p.E746_A750del", "p.T790M"}[r.IntN(3)],
				[]string{"Missense_Mutation", "In_Frame_Del", "Missense_Mutation"}[r.IntN(3)])
		case x < 0.28:
			variant("KRAS", "MUTATION", "p.G12C", "Missense_Mutation")
		case x < 0.32:
			f := variant("ALK", "SV", "", "")
			f.Variant.LeftPartner, f.Variant.RightPartner = schemas.Ptr("EML4"), schemas.Ptr("ALK")
		case x < 0.40:
			variant("KRAS", "MUTATION", []string{"p.G12D", "p.G12V"}[r.IntN(2)], "Missense_Mutation")
		}
		if r.Float64() < 0.5 {
			variant("TP53", "MUTATION", "p.R273H", "Missense_Mutation")
		}
		tps := 0.0
		if y := r.Float64(); y < 0.30 {
			tps = 50 + float64(r.IntN(51))
		} else if y < 0.65 {
			tps = 1 + float64(r.IntN(49))
		}
		f := marker("PD_L1", &tps, "", "83053-9")
		f.Marker.Scoring, f.Marker.Clone = schemas.Ptr("TPS"), schemas.Ptr("22C3")
	case "IDC", "ILC":
		marker("HER2", nil, posneg(0.20), "48676-1")
		marker("ER", nil, posneg(0.70), "16112-5")
		marker("PR", nil, posneg(0.60), "16113-3")
		if r.Float64() < 0.35 {
			variant("PIK3CA", "MUTATION", []string{"p.H1047R", "p.E545K"}[r.IntN(2)], "Missense_Mutation")
		}
		if r.Float64() < 0.05 {
			variant("BRCA2", "MUTATION", "p.K3326*", "Nonsense_Mutation")
		}
	case "COAD", "READ":
		if r.Float64() < 0.40 {
			variant("KRAS", "MUTATION", []string{"p.G12D", "p.G12V", "p.G13D", "p.G12C"}[r.IntN(4)], "Missense_Mutation")
		} else if r.Float64() < 0.15 {
			variant("BRAF", "MUTATION", "p.V600E", "Missense_Mutation")
		}
		msi := "MSS"
		if r.Float64() < 0.15 {
			msi = "MSI-H"
		}
		marker("MSI", nil, msi, "81695-9")
	case "SKCM":
		if r.Float64() < 0.50 {
			variant("BRAF", "MUTATION", []string{"p.V600E", "p.V600E", "p.V600K"}[r.IntN(3)], "Missense_Mutation")
		} else if r.Float64() < 0.25 {
			variant("NRAS", "MUTATION", "p.Q61R", "Missense_Mutation")
		}
	case "PRAD":
		if r.Float64() < 0.10 {
			variant("BRCA2", "MUTATION", "p.K3326*", "Nonsense_Mutation")
		}
		if r.Float64() < 0.05 {
			variant("AR", "CNV", "", "").Variant.CNVCall = schemas.Ptr("High level amplification")
		}
	case "PAAD":
		if r.Float64() < 0.90 {
			variant("KRAS", "MUTATION", []string{"p.G12D", "p.G12V", "p.G12R"}[r.IntN(3)], "Missense_Mutation")
		}
	case "GB":
		if r.Float64() < 0.40 {
			variant("EGFR", "CNV", "", "").Variant.CNVCall = schemas.Ptr("High level amplification")
		}
	}
	// TMB-high (>= 10 mut/Mb) in about 12% of solid tumours; more in melanoma and lung.
	tmb := float64(r.IntN(100)) / 10
	high := 0.12
	if cx.code == "SKCM" || cx.code == "LUAD" || cx.code == "LUSC" {
		high = 0.3
	}
	if r.Float64() < high {
		tmb = 10 + float64(r.IntN(40))
	}
	marker("TMB", &tmb, "", "94076-7")
	if r.Float64() < 0.4 {
		f := g.newFact(tenant, pid, schemas.KindPriorTherapy, g.at(step()), "emr")
		f.Therapy = &schemas.PriorTherapy{Line: int32(1 + r.IntN(3))}
	}
	// Later facts that change eligibility.
	if r.Float64() < g.c.Revisions {
		if cx.code == "IDC" || cx.code == "ILC" {
			f := g.newFact(tenant, pid, schemas.KindTumorMarker, g.at(0.7+0.25*r.Float64()), "pathology")
			f.Marker = &schemas.TumorMarker{Marker: "HER2", Result: schemas.Ptr("Negative"), LOINC: schemas.Ptr("48676-1")}
		} else {
			f := g.newFact(tenant, pid, schemas.KindPerformance, g.at(0.7+0.25*r.Float64()), "emr")
			f.Performance = &schemas.PerformanceStatus{Scale: "ECOG", Value: 3}
		}
	}
	if r.Float64() < g.c.Deceased {
		f := g.newFact(tenant, pid, schemas.KindVital, g.at(0.75+0.2*r.Float64()), "emr")
		f.Vital = &schemas.VitalStatus{Status: "DECEASED"}
	}
}

// armTemplate is a family of generated arms.
type armTemplate struct {
	title string
	match any // CTML match tree
}

func clinical(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return map[string]any{"clinical": m}
}

func genomic(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return map[string]any{"genomic": m}
}

func and(xs ...any) []any { return []any{map[string]any{"and": xs}} }

var armTemplates = []armTemplate{
	{"EGFR L858R NSCLC", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Non-Small Cell Lung Cancer"),
		genomic("hugo_symbol", "EGFR", "protein_change", "p.L858R", "variant_category", "Mutation"))},
	{"EGFR exon 19 deletion NSCLC", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Lung"),
		genomic("hugo_symbol", "EGFR", "variant_classification", "In_Frame_Del", "variant_category", "Mutation"))},
	{"KRAS G12C solid tumours", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "_SOLID_"),
		genomic("hugo_symbol", "KRAS", "protein_change", "p.G12C", "variant_category", "Mutation"))},
	{"BRAF V600 melanoma", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Melanoma"),
		genomic("hugo_symbol", "BRAF", "wildcard_protein_change", "p.V600", "variant_category", "Mutation"))},
	{"HER2 positive breast", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Breast", "her2_status", "Positive"))},
	{"ER positive HER2 negative breast, PIK3CA", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Breast", "er_status", "Positive", "her2_status", "Negative"),
		genomic("hugo_symbol", "PIK3CA", "variant_category", "Mutation"))},
	{"ALK fusion NSCLC", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Lung"),
		genomic("hugo_symbol", "ALK", "variant_category", "Structural Variation"))},
	{"TMB high solid tumours", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "_SOLID_", "tmb_numerical", ">=10"))},
	{"KRAS wild-type colorectal", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Colorectal Adenocarcinoma"),
		genomic("hugo_symbol", "KRAS", "variant_category", "!Mutation"))},
	{"BRCA2 prostate", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Prostate Adenocarcinoma"),
		genomic("hugo_symbol", "BRCA2", "variant_category", "Mutation"))},
	{"EGFR amplified glioblastoma", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Glioblastoma"),
		genomic("hugo_symbol", "EGFR", "variant_category", "Copy Number Variation", "cnv_call", "High Amplification"))},
	{"MSI-H solid tumours (tumour agnostic)", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "_SOLID_"),
		genomic("hugo_symbol", "None", "mmr_status", "MSI-H"))},
	{"KRAS G12D pancreas", and(clinical("age_numerical", ">=18", "oncotree_primary_diagnosis", "Pancreatic Adenocarcinoma"),
		genomic("hugo_symbol", "KRAS", "protein_change", "p.G12D", "variant_category", "Mutation"))},
}

// ArmTemplates returns how many arm families the generator draws from.
func ArmTemplates() int { return len(armTemplates) }

func (g *gen) trials() {
	r := g.r
	for i := 0; i < g.c.Trials; i++ {
		protocol := fmt.Sprintf("26-%03d", 100+i)
		narms := 1 + r.IntN(3)
		var arms []any
		var armCodes []string
		for a := 0; a < narms; a++ {
			tpl := armTemplates[(i+a*5)%len(armTemplates)]
			code := fmt.Sprintf("ARM %c", 'A'+a)
			armCodes = append(armCodes, code)
			arms = append(arms, map[string]any{
				"arm_code": code, "arm_description": tpl.title, "arm_suspended": "N",
				"arm_internal_id": 1000*i + a, "match": tpl.match,
			})
		}
		doc := map[string]any{
			"protocol_no": protocol, "status": "Open to Accrual",
			"short_title": fmt.Sprintf("Synthetic trial %s", protocol),
			"treatment_list": map[string]any{"step": []any{map[string]any{
				"step_internal_id": i, "step_code": "1", "step_type": "Registration", "arm": arms,
			}}},
		}
		ctml, _ := json.Marshal(doc)
		// Most trials recruit at some sites only; the others name none
		// and are open wherever the practice is.
		var sites []string
		if r.Float64() < 0.7 {
			for _, s := range g.d.Sites {
				if r.Float64() < 0.7 {
					sites = append(sites, s)
				}
			}
			if len(sites) == 0 {
				sites = []string{g.d.Sites[r.IntN(len(g.d.Sites))]}
			}
		}
		published := g.at(r.Float64() * 0.1)
		g.d.Trials = append(g.d.Trials, &schemas.Trial{
			ProtocolNo: protocol, Version: 1, EventTime: published, Status: "OPEN", StatusText: "Open to Accrual",
			Title: schemas.Ptr(fmt.Sprintf("Synthetic trial %s", protocol)), CTMLFormat: "JSON", CTML: string(ctml), Sites: sites,
		})
		// Approval: most trials are approved at publication, some late (re-matching stored profiles).
		approved := published
		if r.Float64() < 0.2 {
			approved = g.at(0.4 + 0.4*r.Float64())
		}
		g.reg(&schemas.RegulatoryEvent{ProtocolNo: protocol, Scope: "TRIAL", Action: "APPROVED",
			ValidFrom: approved, Authority: schemas.Ptr("IRB"), Reference: "IRB-" + protocol})
		// Site-level approvals, and now and then a site suspended later or
		// an arm on hold at one site (open at the others).
		for _, site := range sites {
			g.reg(&schemas.RegulatoryEvent{ProtocolNo: protocol, Scope: "SITE", SiteID: schemas.Ptr(site), Action: "APPROVED",
				ValidFrom: approved, Authority: schemas.Ptr("IRB"), Reference: "IRB-" + protocol + "-" + site})
		}
		if len(sites) > 1 && r.Float64() < 0.25 {
			site := sites[r.IntN(len(sites))]
			g.reg(&schemas.RegulatoryEvent{ProtocolNo: protocol, Scope: "SITE", SiteID: schemas.Ptr(site), Action: "SUSPENDED",
				ValidFrom: g.at(0.5 + 0.4*r.Float64()), Authority: schemas.Ptr("Site PI"), Reference: "HOLD-" + protocol + "-" + site})
		}
		if len(sites) > 1 && r.Float64() < 0.25 {
			site, arm := sites[r.IntN(len(sites))], armCodes[r.IntN(len(armCodes))]
			from := approved
			if r.Float64() < 0.5 {
				from = g.at(0.5 + 0.4*r.Float64())
			}
			g.reg(&schemas.RegulatoryEvent{ProtocolNo: protocol, Scope: "ARM", ArmCode: schemas.Ptr(arm), SiteID: schemas.Ptr(site),
				Action: "SUSPENDED", ValidFrom: from, Authority: schemas.Ptr("Sponsor"), Reference: "HOLD-" + protocol + "-" + site + "-" + arm})
		}
		// Some arms close later (retractions).
		if r.Float64() < 0.2 {
			arm := armCodes[r.IntN(len(armCodes))]
			g.reg(&schemas.RegulatoryEvent{ProtocolNo: protocol, Scope: "ARM", ArmCode: schemas.Ptr(arm),
				Action: "CLOSED", ValidFrom: g.at(0.6 + 0.35*r.Float64()), Authority: schemas.Ptr("Sponsor"), Reference: "CLOSE-" + protocol})
		}
	}
}

// reg adds a regulatory event recorded when it takes effect.
func (g *gen) reg(e *schemas.RegulatoryEvent) {
	e.EventID, e.EventTime = g.uuid("reg", len(g.d.Regulatory)), e.ValidFrom
	g.d.Regulatory = append(g.d.Regulatory, e)
}

func (g *gen) uuid(kind string, n int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%d", kind, g.c.Seed, n))
	id := hex.EncodeToString(sum[:16])
	return fmt.Sprintf("%s-%s-4%s-8%s-%s", id[0:8], id[8:12], id[13:16], id[17:20], id[20:32])
}
