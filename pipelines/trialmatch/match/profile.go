package match

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
)

// PDL1LOINC is the LOINC code of PD-L1 by immune stain (83053-9).
const PDL1LOINC = "83053-9"

// Profile is the fold of one patient's facts (patient_facts.avsc): the latest
// demographics, diagnosis, markers, performance and vital status, the number
// of prior lines, and every variant reported. Field names follow
// patient_facts.avsc. An empty string or a nil pointer means "not known":
// the matcher evaluates such criteria as unknown, never as false.
type Profile struct {
	Tenant    string // tenant
	PatientID string // patient_id (pseudonym)
	SampleID  string // the sequenced sample, when the profile stands for one (MatchMiner's SAMPLE_ID)

	BirthDate    *int32 // demographics.birth_date, days since 1970-01-01
	Gender       string // demographics.gender
	PostalRegion string // demographics.postal_region (3 digits)

	OncotreePrimaryDiagnosis string // diagnosis.oncotree_primary_diagnosis
	DiseaseStatus            string // diagnosis.disease_status

	Deceased   bool   // vital.status == DECEASED
	ECOG       *int32 // performance.value where scale == ECOG (latest)
	PriorLines *int32 // count of distinct therapy.line

	TMB  *float64 // marker TMB value, mutations/Mb
	ER   string   // marker ER result, e.g. Positive
	PR   string   // marker PR result
	HER2 string   // marker HER2 result
	// PD-L1 scores, each with the antibody clone of the assay that gave it:
	// a TPS and a CPS (or IC) measured with different clones keep their own.
	PDL1TPS      *float64 // marker PD_L1, LOINC 83053-9, scoring TPS (percent of tumour cells)
	PDL1TPSClone string   // clone of the TPS assay, e.g. 22C3
	PDL1CPS      *float64 // marker PD_L1 scoring CPS (combined positive score)
	PDL1CPSClone string   // clone of the CPS assay
	PDL1IC       *float64 // marker PD_L1 scoring IC (percent of tumour area with stained immune cells)
	PDL1ICClone  string   // clone of the IC assay, e.g. SP142

	// Sequenced says a genomic report exists, so that the absence of a
	// variant is a known "no" rather than "not tested". Without it a
	// genomic criterion is true when a listed finding satisfies it and
	// unknown otherwise.
	Sequenced bool
	// ReportDate is the date of the latest genomic report, days since epoch.
	ReportDate *int32
	Variants   []Variant
}

// Variant is one genomic finding (patient_facts.avsc Variant).
type Variant struct {
	HugoSymbol            string // hugo_symbol
	VariantCategory       string // MUTATION, CNV, SV, SIGNATURE
	ProteinChange         string // protein_change, e.g. p.L858R
	VariantClassification string // variant_classification
	Exon                  *int32 // exon
	CNVCall               string // cnv_call
	LeftPartner           string // left_partner (SV)
	RightPartner          string // right_partner (SV); empty = intergenic
	SVComment             string // sv_comment (unstructured SV)
	Signature             string // signature: MMR, APOBEC, POLE, TOBACCO, TEMOZOLOMIDE, UVA
	SignatureStatus       string // signature_status
	Wildtype              bool   // wildtype
}

// Column indexes of the profile schema.
const (
	colTenant = iota
	colPatientID
	colSampleID
	colBirthDate
	colGender
	colPostalRegion
	colDiagnosis
	colDiseaseStatus
	colDeceased
	colECOG
	colPriorLines
	colTMB
	colER
	colPR
	colHER2
	colPDL1TPS
	colPDL1TPSClone
	colPDL1CPS
	colPDL1CPSClone
	colPDL1IC
	colPDL1ICClone
	colSequenced
	colReportDate
	colVariants
)

// Child columns of the variants struct.
const (
	vHugo = iota
	vCategory
	vProtein
	vClassification
	vExon
	vCNV
	vLeft
	vRight
	vComment
	vSignature
	vSignatureStatus
	vWildtype
)

var variantType = arrow.StructOf(
	arrow.Field{Name: "hugo_symbol", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "variant_category", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "protein_change", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "variant_classification", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "exon", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	arrow.Field{Name: "cnv_call", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "left_partner", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "right_partner", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "sv_comment", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "signature", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "signature_status", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "wildtype", Type: arrow.FixedWidthTypes.Boolean},
)

// ProfileSchema is the Arrow schema of profile batches: one row per profile,
// variants as a List<Struct> column. Nulls mean "not known".
//
// Layout choice: variants are a List<Struct> column rather than a separate
// child table. One record then carries a whole batch (one Beam element, one
// IPC message), the list offsets give each profile's variant range, and the
// struct's child columns are contiguous over all variants of the batch, so
// the matcher scans genes and categories of the whole batch in one pass and
// maps hits back to rows through the offsets — exactly what a flattened
// child table would give, without a second record to keep aligned.
var ProfileSchema = arrow.NewSchema([]arrow.Field{
	{Name: "tenant", Type: arrow.BinaryTypes.String},
	{Name: "patient_id", Type: arrow.BinaryTypes.String},
	{Name: "sample_id", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "birth_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "gender", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "postal_region", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "oncotree_primary_diagnosis", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "disease_status", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "deceased", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "ecog", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "prior_lines", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "tmb", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "er_status", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "pr_status", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "her2_status", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "pdl1_tps", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "pdl1_tps_clone", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "pdl1_cps", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "pdl1_cps_clone", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "pdl1_ic", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "pdl1_ic_clone", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "sequenced", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "report_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "variants", Type: arrow.ListOf(variantType)},
}, nil)

func appendStr(b *array.StringBuilder, s string) {
	if s == "" {
		b.AppendNull()
		return
	}
	b.Append(s)
}

func appendI32(b *array.Int32Builder, v *int32) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.Append(*v)
}

func appendDate(b *array.Date32Builder, v *int32) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.Append(arrow.Date32(*v))
}

func appendF64(b *array.Float64Builder, v *float64) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.Append(*v)
}

// BuildProfiles builds one Arrow record of ProfileSchema from profiles. The
// caller releases the record.
func BuildProfiles(mem memory.Allocator, profiles []Profile) arrow.Record {
	b := array.NewRecordBuilder(mem, ProfileSchema)
	defer b.Release()
	b.Reserve(len(profiles))
	str := func(i int) *array.StringBuilder { return b.Field(i).(*array.StringBuilder) }
	lb := b.Field(colVariants).(*array.ListBuilder)
	sb := lb.ValueBuilder().(*array.StructBuilder)
	vs := func(i int) *array.StringBuilder { return sb.FieldBuilder(i).(*array.StringBuilder) }
	for i := range profiles {
		p := &profiles[i]
		str(colTenant).Append(p.Tenant)
		str(colPatientID).Append(p.PatientID)
		appendStr(str(colSampleID), p.SampleID)
		appendDate(b.Field(colBirthDate).(*array.Date32Builder), p.BirthDate)
		appendStr(str(colGender), p.Gender)
		appendStr(str(colPostalRegion), p.PostalRegion)
		appendStr(str(colDiagnosis), p.OncotreePrimaryDiagnosis)
		appendStr(str(colDiseaseStatus), p.DiseaseStatus)
		b.Field(colDeceased).(*array.BooleanBuilder).Append(p.Deceased)
		appendI32(b.Field(colECOG).(*array.Int32Builder), p.ECOG)
		appendI32(b.Field(colPriorLines).(*array.Int32Builder), p.PriorLines)
		appendF64(b.Field(colTMB).(*array.Float64Builder), p.TMB)
		appendStr(str(colER), p.ER)
		appendStr(str(colPR), p.PR)
		appendStr(str(colHER2), p.HER2)
		appendF64(b.Field(colPDL1TPS).(*array.Float64Builder), p.PDL1TPS)
		appendStr(str(colPDL1TPSClone), p.PDL1TPSClone)
		appendF64(b.Field(colPDL1CPS).(*array.Float64Builder), p.PDL1CPS)
		appendStr(str(colPDL1CPSClone), p.PDL1CPSClone)
		appendF64(b.Field(colPDL1IC).(*array.Float64Builder), p.PDL1IC)
		appendStr(str(colPDL1ICClone), p.PDL1ICClone)
		b.Field(colSequenced).(*array.BooleanBuilder).Append(p.Sequenced)
		appendDate(b.Field(colReportDate).(*array.Date32Builder), p.ReportDate)
		lb.Append(true)
		for j := range p.Variants {
			v := &p.Variants[j]
			sb.Append(true)
			appendStr(vs(vHugo), v.HugoSymbol)
			vs(vCategory).Append(v.VariantCategory)
			appendStr(vs(vProtein), v.ProteinChange)
			appendStr(vs(vClassification), v.VariantClassification)
			appendI32(sb.FieldBuilder(vExon).(*array.Int32Builder), v.Exon)
			appendStr(vs(vCNV), v.CNVCall)
			appendStr(vs(vLeft), v.LeftPartner)
			appendStr(vs(vRight), v.RightPartner)
			appendStr(vs(vComment), v.SVComment)
			appendStr(vs(vSignature), v.Signature)
			appendStr(vs(vSignatureStatus), v.SignatureStatus)
			sb.FieldBuilder(vWildtype).(*array.BooleanBuilder).Append(v.Wildtype)
		}
	}
	return b.NewRecordBatch()
}

// batch is a typed view of a profile record's columns.
type batch struct {
	n                                     int
	tenant, patient, sample               *array.String
	birth, report                         *array.Date32
	gender, region, diag, disease         *array.String
	deceased, sequenced                   *array.Boolean
	ecog, lines                           *array.Int32
	tmb, tps, cps, ic                     *array.Float64
	er, pr, her2                          *array.String
	tpsClone, cpsClone, icClone           *array.String
	variants                              *array.List
	offsets                               []int32
	vHugo, vCat, vProt, vClass, vCNV      *array.String
	vLeft, vRight, vComment, vSig, vSigSt *array.String
	vExon                                 *array.Int32
	vWild                                 *array.Boolean
}

// viewBatch checks rec against ProfileSchema and returns typed columns.
func viewBatch(rec arrow.Record) (*batch, error) {
	if !rec.Schema().Equal(ProfileSchema) {
		return nil, fmt.Errorf("match: record schema %v is not match.ProfileSchema", rec.Schema())
	}
	c := rec.Columns()
	s := func(i int) *array.String { return c[i].(*array.String) }
	b := &batch{
		n:      int(rec.NumRows()),
		tenant: s(colTenant), patient: s(colPatientID), sample: s(colSampleID),
		birth: c[colBirthDate].(*array.Date32), report: c[colReportDate].(*array.Date32),
		gender: s(colGender), region: s(colPostalRegion), diag: s(colDiagnosis), disease: s(colDiseaseStatus),
		deceased: c[colDeceased].(*array.Boolean), sequenced: c[colSequenced].(*array.Boolean),
		ecog: c[colECOG].(*array.Int32), lines: c[colPriorLines].(*array.Int32),
		tmb: c[colTMB].(*array.Float64), tps: c[colPDL1TPS].(*array.Float64), cps: c[colPDL1CPS].(*array.Float64),
		ic: c[colPDL1IC].(*array.Float64),
		er: s(colER), pr: s(colPR), her2: s(colHER2),
		tpsClone: s(colPDL1TPSClone), cpsClone: s(colPDL1CPSClone), icClone: s(colPDL1ICClone),
		variants: c[colVariants].(*array.List),
	}
	st := b.variants.ListValues().(*array.Struct)
	vs := func(i int) *array.String { return st.Field(i).(*array.String) }
	b.vHugo, b.vCat, b.vProt, b.vClass = vs(vHugo), vs(vCategory), vs(vProtein), vs(vClassification)
	b.vCNV, b.vLeft, b.vRight, b.vComment = vs(vCNV), vs(vLeft), vs(vRight), vs(vComment)
	b.vSig, b.vSigSt = vs(vSignature), vs(vSignatureStatus)
	b.vExon = st.Field(vExon).(*array.Int32)
	b.vWild = st.Field(vWildtype).(*array.Boolean)
	b.offsets = b.variants.Offsets()[b.variants.Offset():]
	return b, nil
}

func optStr(a *array.String, i int) string {
	if a.IsNull(i) {
		return ""
	}
	return a.Value(i)
}

func optI32(a *array.Int32, i int) *int32 {
	if a.IsNull(i) {
		return nil
	}
	v := a.Value(i)
	return &v
}

func optDate(a *array.Date32, i int) *int32 {
	if a.IsNull(i) {
		return nil
	}
	v := int32(a.Value(i))
	return &v
}

func optF64(a *array.Float64, i int) *float64 {
	if a.IsNull(i) {
		return nil
	}
	v := a.Value(i)
	return &v
}

// variant returns variant j of the batch's variant child arrays. Strings
// point into the record's buffers.
func (b *batch) variant(j int) Variant {
	return Variant{
		HugoSymbol: optStr(b.vHugo, j), VariantCategory: b.vCat.Value(j),
		ProteinChange: optStr(b.vProt, j), VariantClassification: optStr(b.vClass, j),
		Exon: optI32(b.vExon, j), CNVCall: optStr(b.vCNV, j),
		LeftPartner: optStr(b.vLeft, j), RightPartner: optStr(b.vRight, j),
		SVComment: optStr(b.vComment, j), Signature: optStr(b.vSig, j),
		SignatureStatus: optStr(b.vSigSt, j), Wildtype: b.vWild.Value(j),
	}
}

// variantView is variant j for matching within the batch: like variant,
// but Exon points into the record's buffer (no allocation), and only the
// fields variantMatches reads for category cat are set (SV partners and
// comment for SVs, signature fields for signatures).
func (b *batch) variantView(j int, cat string) Variant {
	v := Variant{VariantCategory: cat}
	if cat == string(criteria.Signature) {
		v.Signature, v.SignatureStatus = optStr(b.vSig, j), optStr(b.vSigSt, j)
		return v
	}
	v.HugoSymbol, v.ProteinChange, v.VariantClassification = optStr(b.vHugo, j), optStr(b.vProt, j), optStr(b.vClass, j)
	v.CNVCall, v.Wildtype = optStr(b.vCNV, j), b.vWild.Value(j)
	if b.vExon.IsValid(j) {
		v.Exon = &b.vExon.Int32Values()[j]
	}
	if cat == string(criteria.SV) {
		v.LeftPartner, v.RightPartner, v.SVComment = optStr(b.vLeft, j), optStr(b.vRight, j), optStr(b.vComment, j)
	}
	return v
}

// rowValues backs the pointer fields of a row view.
type rowValues struct {
	birth, report, ecog, lines int32
	tmb, tps, cps, ic          float64
}

// rowView sets *p to row i for matching within the batch without
// allocating: strings point into the record, pointer fields into *vals
// (or the record's buffers), and the row's variants are appended to vars,
// which p.Variants then is. Without full, only Variants, ReportDate and
// Sequenced are set: what reasons read when leaf truths come from the
// batch's bitsets. The identifying strings are left to the caller.
func (b *batch) rowView(i int, p *Profile, vals *rowValues, vars []Variant, full bool) []Variant {
	opt32 := func(a interface{ IsNull(int) bool }, v int32, dst *int32) *int32 {
		if a.IsNull(i) {
			return nil
		}
		*dst = v
		return dst
	}
	optF := func(a *array.Float64, dst *float64) *float64 {
		if a.IsNull(i) {
			return nil
		}
		*dst = a.Value(i)
		return dst
	}
	*p = Profile{Sequenced: b.sequenced.Value(i), ReportDate: opt32(b.report, int32(b.report.Value(i)), &vals.report)}
	if full {
		p.BirthDate = opt32(b.birth, int32(b.birth.Value(i)), &vals.birth)
		p.Gender, p.PostalRegion = optStr(b.gender, i), optStr(b.region, i)
		p.OncotreePrimaryDiagnosis, p.DiseaseStatus = optStr(b.diag, i), optStr(b.disease, i)
		p.Deceased = b.deceased.Value(i)
		p.ECOG, p.PriorLines = opt32(b.ecog, b.ecog.Value(i), &vals.ecog), opt32(b.lines, b.lines.Value(i), &vals.lines)
		p.TMB, p.PDL1TPS, p.PDL1CPS = optF(b.tmb, &vals.tmb), optF(b.tps, &vals.tps), optF(b.cps, &vals.cps)
		p.PDL1IC = optF(b.ic, &vals.ic)
		p.ER, p.PR, p.HER2 = optStr(b.er, i), optStr(b.pr, i), optStr(b.her2, i)
		p.PDL1TPSClone, p.PDL1CPSClone, p.PDL1ICClone = optStr(b.tpsClone, i), optStr(b.cpsClone, i), optStr(b.icClone, i)
	}
	lo, hi := int(b.offsets[i]), int(b.offsets[i+1])
	for j := lo; j < hi; j++ {
		v := Variant{
			HugoSymbol: optStr(b.vHugo, j), VariantCategory: b.vCat.Value(j),
			ProteinChange: optStr(b.vProt, j), VariantClassification: optStr(b.vClass, j),
			CNVCall: optStr(b.vCNV, j), LeftPartner: optStr(b.vLeft, j), RightPartner: optStr(b.vRight, j),
			SVComment: optStr(b.vComment, j), Signature: optStr(b.vSig, j),
			SignatureStatus: optStr(b.vSigSt, j), Wildtype: b.vWild.Value(j),
		}
		if b.vExon.IsValid(j) {
			v.Exon = &b.vExon.Int32Values()[j]
		}
		vars = append(vars, v)
	}
	if hi > lo {
		p.Variants = vars
	}
	return vars
}

// profile materialises row i. Strings point into the record's buffers.
func (b *batch) profile(i int) Profile {
	p := Profile{
		Tenant: b.tenant.Value(i), PatientID: b.patient.Value(i), SampleID: optStr(b.sample, i),
		BirthDate: optDate(b.birth, i), Gender: optStr(b.gender, i), PostalRegion: optStr(b.region, i),
		OncotreePrimaryDiagnosis: optStr(b.diag, i), DiseaseStatus: optStr(b.disease, i),
		Deceased: b.deceased.Value(i), ECOG: optI32(b.ecog, i), PriorLines: optI32(b.lines, i),
		TMB: optF64(b.tmb, i), ER: optStr(b.er, i), PR: optStr(b.pr, i), HER2: optStr(b.her2, i),
		PDL1TPS: optF64(b.tps, i), PDL1TPSClone: optStr(b.tpsClone, i),
		PDL1CPS: optF64(b.cps, i), PDL1CPSClone: optStr(b.cpsClone, i),
		PDL1IC: optF64(b.ic, i), PDL1ICClone: optStr(b.icClone, i),
		Sequenced: b.sequenced.Value(i), ReportDate: optDate(b.report, i),
	}
	lo, hi := int(b.offsets[i]), int(b.offsets[i+1])
	if hi > lo {
		p.Variants = make([]Variant, 0, hi-lo)
		for j := lo; j < hi; j++ {
			p.Variants = append(p.Variants, b.variant(j))
		}
	}
	return p
}

// ProfilesFromRecord materialises every row of a ProfileSchema record. The
// strings of the result point into rec's buffers: keep rec alive while
// using them (or copy).
func ProfilesFromRecord(rec arrow.Record) ([]Profile, error) {
	b, err := viewBatch(rec)
	if err != nil {
		return nil, err
	}
	out := make([]Profile, b.n)
	for i := range out {
		out[i] = b.profile(i)
	}
	return out, nil
}
