package bench

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
)

// Sizes of BenchmarkMatch; MATCH_BENCH_PROFILES overrides the profile count
// (e.g. 100000 for a quick run).
const (
	matchDefaultProfiles = 1_000_000
	matchArms            = 1000
	matchBatchRows       = 65536
)

var matchToday = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

type matchFixture struct {
	engine   *match.Engine
	profiles []match.Profile
	batches  [][]match.Profile
	records  []arrow.Record
	bytes    int64
	clauses  int
	trials   int
}

var (
	matchOnce sync.Once
	matchFix  *matchFixture
	matchErr  error
)

func matchProfilesWanted() int {
	if s := os.Getenv("MATCH_BENCH_PROFILES"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return matchDefaultProfiles
}

// matchSetup generates the profiles and trials once per process.
func matchSetup(b *testing.B) *matchFixture {
	b.Helper()
	matchOnce.Do(func() {
		r := rand.New(rand.NewPCG(7, 11))
		f := &matchFixture{}
		trials, err := matchTrials(r, matchArms)
		if err != nil {
			matchErr = err
			return
		}
		f.engine, err = match.Compile(trials, match.WithToday(matchToday))
		if err != nil {
			matchErr = err
			return
		}
		f.clauses, f.trials = f.engine.Clauses(), len(trials)
		n := matchProfilesWanted()
		f.profiles = make([]match.Profile, n)
		for i := range f.profiles {
			f.profiles[i] = matchProfile(r, i)
		}
		mem := memory.NewGoAllocator()
		for lo := 0; lo < n; lo += matchBatchRows {
			hi := min(lo+matchBatchRows, n)
			f.batches = append(f.batches, f.profiles[lo:hi])
			rec := match.BuildProfiles(mem, f.profiles[lo:hi])
			f.records = append(f.records, rec)
			f.bytes += matchRecordBytes(rec)
		}
		matchFix = f
	})
	if matchErr != nil {
		b.Fatal(matchErr)
	}
	return matchFix
}

// matchRecordBytes is the size of a record's buffers (children included).
func matchRecordBytes(rec arrow.Record) int64 {
	var size func(d arrow.ArrayData) int64
	size = func(d arrow.ArrayData) int64 {
		var n int64
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			n += size(c)
		}
		return n
	}
	var n int64
	for _, c := range rec.Columns() {
		n += size(c.Data())
	}
	return n
}

// matchDigest summarises a match list (order-sensitive).
func matchDigest(batches ...[]match.Match) (int, uint64) {
	h := fnv.New64a()
	n := 0
	for _, ms := range batches {
		n += len(ms)
		for i := range ms {
			m := &ms[i]
			fmt.Fprintf(h, "%s|%s|%s|%d|%s|%s|%d;", m.Tenant, m.PatientID, m.ProtocolNo, m.Level, m.ArmCode, m.DoseLevel, len(m.Reasons))
			for _, r := range m.Reasons {
				h.Write([]byte(r.Alteration))
			}
		}
	}
	return n, h.Sum64()
}

var matchSink int

// matchCPU is the process's user+system CPU time: on a shared machine the
// wall clock overstates the cost, so the benchmarks also report CPU time.
func matchCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// matchReportCPU reports CPU seconds per op, profiles per CPU second and
// Arrow megabytes (1e6 bytes, as MB/s) per CPU second.
func matchReportCPU(b *testing.B, cpu time.Duration, profiles int, bytes int64) {
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(profiles)*float64(b.N)/cpu.Seconds(), "profiles/cpu-s")
	b.ReportMetric(float64(bytes)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
}

// matchBatchDigest is the digest of one batch's matches.
type matchBatchDigest struct {
	n int
	h uint64
}

// BenchmarkMatch matches synthetic patient profiles (1 M by default, in
// Arrow records of 65,536 rows) against 1,000 open arms with realistic
// biomarker prevalence.
//
//   - vectorized: Engine.MatchBatch over the Arrow records, reasons included;
//   - vectorized-hits: Engine.MatchBatchHits, the (profile, clause) pairs
//     without reasons (what a dedup stage needs before building the reasons
//     of new matches only), after one untimed warm-up pass (steady state);
//   - rowwise: Engine.Rowwise over the same profiles as Go structs, the
//     straightforward baseline.
//
// All three give the same matches: per-batch digests are compared outside
// the timed region (matches are dropped batch by batch to bound memory).
// SetBytes is the Arrow size of the profile records.
func BenchmarkMatch(b *testing.B) {
	f := matchSetup(b)
	b.Logf("%d profiles, %d Arrow bytes (%.0f B/profile), %d records, %d clauses in %d trials", len(f.profiles), f.bytes,
		float64(f.bytes)/float64(len(f.profiles)), len(f.records), f.clauses, f.trials)
	var vec []matchBatchDigest
	b.Run("vectorized", func(b *testing.B) {
		b.SetBytes(f.bytes)
		b.ReportAllocs()
		// Each run (one per -count) collects the digests afresh: appending
		// to the previous run's would double the expected match count.
		vec = vec[:0]
		first := true
		total := 0
		var cpu time.Duration
		for b.Loop() {
			c0 := matchCPU()
			total = 0
			for _, rec := range f.records {
				ms, err := f.engine.MatchBatch(rec)
				if err != nil {
					b.Fatal(err)
				}
				total += len(ms)
				if first {
					b.StopTimer()
					c1 := matchCPU()
					n, h := matchDigest(ms)
					vec = append(vec, matchBatchDigest{n, h})
					c0 += matchCPU() - c1
					b.StartTimer()
				}
			}
			first = false
			cpu += matchCPU() - c0
		}
		matchReportCPU(b, cpu, len(f.profiles), f.bytes)
		b.ReportMetric(float64(len(f.profiles))*float64(b.N)/b.Elapsed().Seconds(), "profiles/s")
		b.ReportMetric(float64(total), "matches")
		matchSink += total
	})
	b.Run("vectorized-hits", func(b *testing.B) {
		b.SetBytes(f.bytes)
		b.ReportAllocs()
		// One untimed warm-up pass: the hit buffer reaches its working size
		// (the API appends to the caller's buffer) and the engine's pooled
		// per-batch scratch exists; the timed passes are the steady state.
		var hits []match.Hit
		for _, rec := range f.records {
			var err error
			if hits, err = f.engine.MatchBatchHits(rec, hits[:0]); err != nil {
				b.Fatal(err)
			}
		}
		// The garbage of an earlier sub-benchmark (the reasons path
		// leaves ~4 GB per pass) is collected and its memory returned to
		// the OS before timing, so that its sweeping and scavenging are not
		// billed to the hits path's CPU time.
		debug.FreeOSMemory()
		total := 0
		var cpu time.Duration
		for b.Loop() {
			c0 := matchCPU()
			total = 0
			for _, rec := range f.records {
				var err error
				hits, err = f.engine.MatchBatchHits(rec, hits[:0])
				if err != nil {
					b.Fatal(err)
				}
				total += len(hits)
			}
			cpu += matchCPU() - c0
		}
		matchReportCPU(b, cpu, len(f.profiles), f.bytes)
		b.ReportMetric(float64(len(f.profiles))*float64(b.N)/b.Elapsed().Seconds(), "profiles/s")
		b.StopTimer()
		want := 0
		for _, d := range vec {
			want += d.n
		}
		if vec != nil && total != want {
			b.Fatalf("hits %d, matches %d", total, want)
		}
		matchSink += total
	})
	b.Run("rowwise", func(b *testing.B) {
		b.SetBytes(f.bytes)
		b.ReportAllocs()
		first := true
		var cpu time.Duration
		for b.Loop() {
			c0 := matchCPU()
			for i, batch := range f.batches {
				ms := f.engine.Rowwise(batch)
				if first && vec != nil {
					b.StopTimer()
					c1 := matchCPU()
					n, h := matchDigest(ms)
					if n != vec[i].n || h != vec[i].h {
						b.Fatalf("batch %d: vectorized gave %d matches (digest %x), rowwise %d (%x)", i, vec[i].n, vec[i].h, n, h)
					}
					c0 += matchCPU() - c1
					b.StartTimer()
				}
				matchSink += len(ms)
			}
			first = false
			cpu += matchCPU() - c0
		}
		matchReportCPU(b, cpu, len(f.profiles), f.bytes)
		b.ReportMetric(float64(len(f.profiles))*float64(b.N)/b.Elapsed().Seconds(), "profiles/s")
	})
}

// ---- synthetic data -------------------------------------------------------

type matchDx struct {
	name   string
	weight float64
}

// Primary diagnoses with rough US incidence shares among sequenced patients.
var matchDiagnoses = []matchDx{
	{"Lung Adenocarcinoma", 14}, {"Lung Squamous Cell Carcinoma", 5}, {"Non-Small Cell Lung Cancer", 2},
	{"Small Cell Lung Cancer", 2}, {"Breast Invasive Ductal Carcinoma", 11}, {"Breast Invasive Lobular Carcinoma", 2},
	{"Colon Adenocarcinoma", 6}, {"Rectal Adenocarcinoma", 3}, {"Colorectal Adenocarcinoma", 2},
	{"Cutaneous Melanoma", 4}, {"Prostate Adenocarcinoma", 8}, {"Pancreatic Adenocarcinoma", 4},
	{"Glioblastoma", 2}, {"Acute Myeloid Leukemia", 2}, {"High-Grade Serous Ovarian Cancer", 3},
	{"Bladder Urothelial Carcinoma", 3}, {"Renal Clear Cell Carcinoma", 3}, {"Hepatocellular Carcinoma", 2},
	{"Stomach Adenocarcinoma", 2}, {"Uterine Endometrioid Carcinoma", 3}, {"Head and Neck Squamous Cell Carcinoma", 3},
	{"Papillary Thyroid Cancer", 2}, {"Cholangiocarcinoma", 1}, {"Diffuse Large B-Cell Lymphoma", 2},
}

func matchPickDx(r *rand.Rand) string {
	total := 0.0
	for _, d := range matchDiagnoses {
		total += d.weight
	}
	x := r.Float64() * total
	for _, d := range matchDiagnoses {
		if x -= d.weight; x < 0 {
			return d.name
		}
	}
	return matchDiagnoses[0].name
}

var matchPassengers = []string{"TP53", "ARID1A", "KMT2D", "LRP1B", "APC", "PTEN", "CDKN2A", "NF1", "ATM", "RB1", "SMAD4", "FAT1", "NOTCH1", "CREBBP", "SETD2"}

// matchRare are actionable genes mutated in 1-5% of solid tumours.
var matchRare = []string{"ERBB2", "FGFR2", "FGFR3", "IDH1", "IDH2", "MET", "RET", "NTRK1", "PIK3CA", "ATM", "PALB2", "ARID1A"}

func matchPtr[T any](v T) *T { return &v }

// matchProfile draws one patient. Prevalences: EGFR mutations ~15% of NSCLC
// (L858R and exon 19 deletions), KRAS G12C ~13% of NSCLC, ALK fusions ~4% of
// NSCLC, PD-L1 TPS >= 50% ~30% of tested NSCLC; BRAF V600E ~50% of melanoma;
// HER2+ ~20%, ER+ ~70%, PIK3CA ~35% of breast; KRAS ~40%, MSI-H ~15% of
// colorectal; KRAS G12D ~40% of pancreas; BRCA2 ~10% of prostate; EGFR
// amplification ~40% of glioblastoma; TMB >= 10 in ~11% of the sequenced.
func matchProfile(r *rand.Rand, i int) match.Profile {
	dx := matchPickDx(r)
	birth := match.Day(time.Date(1930+r.IntN(75), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC))
	p := match.Profile{
		Tenant: "practice-" + strconv.Itoa(i%5), PatientID: fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15),
		BirthDate: &birth, Gender: []string{"Female", "Male"}[r.IntN(2)], PostalRegion: fmt.Sprintf("%03d", r.IntN(1000)),
		OncotreePrimaryDiagnosis: dx, Deceased: r.Float64() < 0.03,
		DiseaseStatus: []string{"Metastatic", "Advanced", "Localized", "Progressing"}[r.IntN(4)],
	}
	if r.Float64() < 0.9 {
		p.ECOG = matchPtr(int32([]int{0, 0, 1, 1, 1, 2, 2, 3}[r.IntN(8)]))
	}
	if r.Float64() < 0.7 {
		p.PriorLines = matchPtr(int32(r.IntN(4)))
	}
	p.Sequenced = r.Float64() < 0.85
	if p.Sequenced {
		rd := match.Day(matchToday) - int32(r.IntN(900))
		p.ReportDate = &rd
		p.TMB = matchPtr(math.Round(math.Exp(r.NormFloat64()*0.9+1.2)*10) / 10)
		for n := r.IntN(4); n > 0; n-- {
			gene := matchPassengers[r.IntN(len(matchPassengers))]
			if r.IntN(30) == 0 {
				gene = matchRare[r.IntN(len(matchRare))]
			}
			p.Variants = append(p.Variants, match.Variant{HugoSymbol: gene,
				VariantCategory: "MUTATION", ProteinChange: fmt.Sprintf("p.R%d*", 10+r.IntN(900)), VariantClassification: "Nonsense_Mutation"})
		}
	}
	mut := func(gene, change, class string, exon int32) {
		if !p.Sequenced {
			return
		}
		v := match.Variant{HugoSymbol: gene, VariantCategory: "MUTATION", ProteinChange: change, VariantClassification: class}
		if exon > 0 {
			v.Exon = &exon
		}
		p.Variants = append(p.Variants, v)
	}
	x := r.Float64()
	switch dx {
	case "Lung Adenocarcinoma", "Lung Squamous Cell Carcinoma", "Non-Small Cell Lung Cancer":
		switch {
		case x < 0.06:
			mut("EGFR", "p.L858R", "Missense_Mutation", 21)
		case x < 0.13:
			mut("EGFR", "p.E746_A750del", "In_Frame_Del", 19)
		case x < 0.15:
			mut("EGFR", "p.T790M", "Missense_Mutation", 20)
		case x < 0.28:
			mut("KRAS", "p.G12C", "Missense_Mutation", 2)
		case x < 0.32:
			if p.Sequenced {
				p.Variants = append(p.Variants, match.Variant{VariantCategory: "SV", LeftPartner: "EML4", RightPartner: "ALK"})
			}
		}
		if r.Float64() < 0.8 {
			y := r.Float64()
			tps := float64(r.IntN(1))
			switch {
			case y < 0.30:
				tps = float64(50 + r.IntN(51))
			case y < 0.60:
				tps = float64(1 + r.IntN(49))
			}
			p.PDL1TPS = &tps
			p.PDL1TPSClone = []string{"22C3", "22C3", "SP263"}[r.IntN(3)]
		}
	case "Cutaneous Melanoma":
		if x < 0.5 {
			mut("BRAF", "p.V600E", "Missense_Mutation", 15)
		} else if x < 0.55 {
			mut("BRAF", "p.V600K", "Missense_Mutation", 15)
		}
	case "Breast Invasive Ductal Carcinoma", "Breast Invasive Lobular Carcinoma":
		p.Gender = "Female"
		p.HER2 = map[bool]string{true: "Positive", false: "Negative"}[r.Float64() < 0.2]
		p.ER = map[bool]string{true: "Positive", false: "Negative"}[r.Float64() < 0.7]
		p.PR = map[bool]string{true: "Positive", false: "Negative"}[r.Float64() < 0.6]
		if x < 0.35 {
			mut("PIK3CA", "p.H1047R", "Missense_Mutation", 21)
		}
		if p.HER2 == "Positive" && p.Sequenced && r.Float64() < 0.8 {
			p.Variants = append(p.Variants, match.Variant{HugoSymbol: "ERBB2", VariantCategory: "CNV", CNVCall: "High level amplification"})
		}
	case "Colon Adenocarcinoma", "Rectal Adenocarcinoma", "Colorectal Adenocarcinoma":
		if x < 0.4 {
			mut("KRAS", []string{"p.G12D", "p.G12V", "p.G13D", "p.G12C"}[r.IntN(4)], "Missense_Mutation", 2)
		} else if x < 0.5 {
			mut("BRAF", "p.V600E", "Missense_Mutation", 15)
		}
		if p.Sequenced {
			st := "Proficient (MMR-P / MSS)"
			if r.Float64() < 0.15 {
				st = "Deficient (MMR-D / MSI-H)"
			}
			p.Variants = append(p.Variants, match.Variant{VariantCategory: "SIGNATURE", Signature: "MMR", SignatureStatus: st})
		}
	case "Pancreatic Adenocarcinoma":
		if x < 0.4 {
			mut("KRAS", "p.G12D", "Missense_Mutation", 2)
		}
	case "Prostate Adenocarcinoma":
		p.Gender = "Male"
		if x < 0.1 {
			mut("BRCA2", "p.E1493fs", "Frame_Shift_Del", 11)
		}
	case "Glioblastoma":
		if x < 0.4 && p.Sequenced {
			p.Variants = append(p.Variants, match.Variant{HugoSymbol: "EGFR", VariantCategory: "CNV", CNVCall: "High level amplification"})
		}
	}
	return p
}

// matchArmTemplates are families of realistic arms; each generated arm
// varies age, ECOG, prior lines and thresholds.
func matchArm(r *rand.Rand) map[string]any {
	cl := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"clinical": m}
	}
	gn := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"genomic": m}
	}
	and := func(xs ...any) []any { return []any{map[string]any{"and": xs}} }
	age := []string{">=18", ">=18", ">=18", ">=21", ">=12", ">=18.5"}[r.IntN(6)]
	base := func(dx string) map[string]any {
		m := cl("age_numerical", age, "oncotree_primary_diagnosis", dx)["clinical"].(map[string]any)
		if r.IntN(3) == 0 {
			m["ecog"] = []string{"0-1", "0-2", "<=1"}[r.IntN(3)]
		}
		if r.IntN(4) == 0 {
			m["prior_lines_numerical"] = []string{"<=1", "<=2", ">=1"}[r.IntN(3)]
		}
		return map[string]any{"clinical": m}
	}
	// Template weights (per 100 arms): targeted arms dominate; broad
	// tumour-agnostic arms (TMB, MSI-H) are a few percent, as on
	// ClinicalTrials.gov.
	weights := []int{9, 8, 8, 7, 8, 8, 7, 2, 5, 6, 4, 6, 8, 2, 6, 6}
	k, x := 0, r.IntN(100)
	for k = range weights {
		if x -= weights[k]; x < 0 {
			break
		}
	}
	switch k {
	case 0:
		return map[string]any{"match": and(base("Non-Small Cell Lung Cancer"), gn("hugo_symbol", "EGFR", "protein_change", "p.L858R", "variant_category", "Mutation"))}
	case 1:
		return map[string]any{"match": and(base("Lung"), gn("hugo_symbol", "EGFR", "exon", 19, "variant_classification", "In_Frame_Del", "variant_category", "Mutation"))}
	case 2:
		return map[string]any{"match": and(base([]string{"_SOLID_", "Lung", "Non-Small Cell Lung Cancer"}[r.IntN(3)]), gn("hugo_symbol", "KRAS", "protein_change", "p.G12C", "variant_category", "Mutation"))}
	case 3:
		return map[string]any{"match": and(base("Melanoma"), gn("hugo_symbol", "BRAF", "wildcard_protein_change", "p.V600", "variant_category", "Mutation"))}
	case 4:
		return map[string]any{"match": and(base("Breast"), cl("her2_status", "Positive"))}
	case 5:
		return map[string]any{"match": and(base("Breast"), cl("er_status", "Positive", "her2_status", "Negative"), gn("hugo_symbol", "PIK3CA", "variant_category", "Mutation"))}
	case 6:
		return map[string]any{"match": and(base("Lung"), map[string]any{"or": []any{
			gn("hugo_symbol", "ALK", "variant_category", "Structural Variation"),
			gn("hugo_symbol", "ROS1", "variant_category", "Structural Variation")}})}
	case 7:
		return map[string]any{"match": and(base("_SOLID_"), cl("tmb_numerical", []string{">=10", ">=16", ">=20"}[r.IntN(3)]))}
	case 8:
		return map[string]any{"match": and(base("Bowel"), gn("hugo_symbol", "KRAS", "variant_category", "!Mutation"))}
	case 9:
		return map[string]any{"match": and(base("Prostate Adenocarcinoma"), map[string]any{"or": []any{
			gn("hugo_symbol", "BRCA2", "variant_category", "Mutation"), gn("hugo_symbol", "BRCA1", "variant_category", "Mutation"),
			gn("hugo_symbol", "ATM", "variant_category", "Mutation")}})}
	case 10:
		return map[string]any{"match": and(base("Glioblastoma"), gn("hugo_symbol", "EGFR", "variant_category", "Copy Number Variation", "cnv_call", "High Amplification"))}
	case 11:
		return map[string]any{"match": and(base("Pancreas"), gn("hugo_symbol", "KRAS", "protein_change", "p.G12D", "variant_category", "Mutation"))}
	case 12:
		return map[string]any{"match": and(base("Non-Small Cell Lung Cancer"), cl("pdl1_tps_numerical", []string{">=50", ">=1", ">=1"}[r.IntN(3)], "pdl1_clone", "22C3"))}
	case 13:
		return map[string]any{"match": and(base("_SOLID_"), gn("hugo_symbol", "None", "mmr_status", "MSI-H"))}
	case 14:
		return map[string]any{"match": and(base([]string{"Bowel", "Ovary/Fallopian Tube", "Bladder/Urinary Tract", "Kidney", "Liver", "Uterus"}[r.IntN(6)]),
			gn("hugo_symbol", matchRare[r.IntN(len(matchRare))], "variant_category", "Mutation"))}
	default:
		return map[string]any{"match": and(base([]string{"Head and Neck", "Thyroid", "Esophagus/Stomach", "Biliary Tract"}[r.IntN(4)]),
			map[string]any{"or": []any{cl("tmb_numerical", ">=20"), gn("hugo_symbol", matchRare[r.IntN(len(matchRare))], "variant_category", "Mutation")}})}
	}
}

// matchTrials builds open trials with arms arms in all (1-4 per trial), as
// CTML JSON parsed by package criteria.
func matchTrials(r *rand.Rand, arms int) ([]*criteria.Trial, error) {
	var out []*criteria.Trial
	for t := 0; arms > 0; t++ {
		n := min(1+r.IntN(4), arms)
		arms -= n
		var as []any
		for a := 0; a < n; a++ {
			arm := matchArm(r)
			arm["arm_code"] = fmt.Sprintf("ARM %c", 'A'+a)
			arm["arm_suspended"] = "N"
			arm["arm_internal_id"] = t*10 + a
			as = append(as, arm)
		}
		doc, err := json.Marshal(map[string]any{"protocol_no": fmt.Sprintf("B-%04d", t), "status": "Open to Accrual",
			"treatment_list": map[string]any{"step": []any{map[string]any{"step_code": "1", "arm": as}}}})
		if err != nil {
			return nil, err
		}
		tr, err := criteria.Parse(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, tr)
	}
	return out, nil
}

// TestMatchBenchFixture keeps the benchmark's generator honest on a small
// scale: every arm compiles and both engines agree.
func TestMatchBenchFixture(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	trials, err := matchTrials(r, 200)
	if err != nil {
		t.Fatal(err)
	}
	e, err := match.Compile(trials, match.WithToday(matchToday))
	if err != nil {
		t.Fatal(err)
	}
	profiles := make([]match.Profile, 5000)
	for i := range profiles {
		profiles[i] = matchProfile(r, i)
	}
	rec := match.BuildProfiles(memory.NewGoAllocator(), profiles)
	defer rec.Release()
	got, err := e.MatchBatch(rec)
	if err != nil {
		t.Fatal(err)
	}
	gn, gh := matchDigest(got)
	wn, wh := matchDigest(e.Rowwise(profiles))
	hits, err := e.MatchBatchHits(rec, nil)
	if err != nil || len(hits) != gn {
		t.Fatalf("hits %d (%v), matches %d", len(hits), err, gn)
	}
	if gn != wn || gh != wh || gn == 0 {
		t.Fatalf("vectorized %d matches (%x), rowwise %d (%x)", gn, gh, wn, wh)
	}
}
