package fhir

import "strings"

// Code systems.
const (
	sysLOINC  = "http://loinc.org"
	sysSNOMED = "http://snomed.info/sct"
	sysICDO3  = "http://terminology.hl7.org/CodeSystem/icd-o-3"
	sysAJCC   = "http://cancerstaging.org"
	sysHGNC   = "http://www.genenames.org/geneId"
)

func isICD10(system string) bool {
	return system == "http://hl7.org/fhir/sid/icd-10-cm" || system == "http://hl7.org/fhir/sid/icd-10"
}

// oncotree is one OncoTree node: code and the name MatchMiner uses (a key
// of pipelines/trialmatch/criteria/oncotree_mapping.json).
type oncotree struct{ code, name string }

var (
	otBreast   = oncotree{"BRCA", "Invasive Breast Carcinoma"}
	otIDC      = oncotree{"IDC", "Breast Invasive Ductal Carcinoma"}
	otILC      = oncotree{"ILC", "Breast Invasive Lobular Carcinoma"}
	otMDLC     = oncotree{"MDLC", "Breast Mixed Ductal and Lobular Carcinoma"}
	otLung     = oncotree{"LUNG", "Lung"}
	otNSCLC    = oncotree{"NSCLC", "Non-Small Cell Lung Cancer"}
	otLUAD     = oncotree{"LUAD", "Lung Adenocarcinoma"}
	otLUSC     = oncotree{"LUSC", "Lung Squamous Cell Carcinoma"}
	otSCLC     = oncotree{"SCLC", "Small Cell Lung Cancer"}
	otCOADREAD = oncotree{"COADREAD", "Colorectal Adenocarcinoma"}
	otPRAD     = oncotree{"PRAD", "Prostate Adenocarcinoma"}
	otPAAD     = oncotree{"PAAD", "Pancreatic Adenocarcinoma"}
	otMEL      = oncotree{"MEL", "Melanoma"}
)

// snomedOncotree maps SNOMED CT disorder codes of primary cancers to
// OncoTree (see RESULTS/README of the ingest for the review notes).
var snomedOncotree = map[string]oncotree{
	"254837009": otBreast, // Malignant neoplasm of breast (disorder)
	"372137005": otBreast, // Primary malignant neoplasm of breast (disorder)
	"408643008": otIDC,    // Infiltrating duct carcinoma of breast (disorder)
	"278054005": otILC,    // Infiltrating lobular carcinoma of breast (disorder)
	"93880001":  otLung,   // Primary malignant neoplasm of lung (disorder)
	"363358000": otLung,   // Malignant tumor of lung (disorder)
	"254637007": otNSCLC,  // Non-small cell lung cancer (disorder)
	"254632001": otSCLC,   // Small cell carcinoma of lung (disorder)
	"363406005": otCOADREAD,
	"399068003": otPRAD, // Malignant tumor of prostate (disorder)
	"363418001": otPAAD, // Malignant tumor of pancreas (disorder)
	"372244006": otMEL,  // Malignant melanoma (disorder)
}

// icd10Oncotree maps ICD-10 category prefixes (C50, C34.1 -> C34) to
// OncoTree at the tissue level.
var icd10Oncotree = map[string]oncotree{
	"C50": otBreast, "C34": otLung, "C18": otCOADREAD, "C19": otCOADREAD, "C20": otCOADREAD,
	"C61": otPRAD, "C25": otPAAD, "C43": otMEL,
}

// morphology refines a tissue-level OncoTree node by histology: ICD-O-3
// morphology codes and the SNOMED morphologic abnormality codes of the
// mCODE histology-morphology-behavior extension.
var morphology = map[oncotree]map[string]oncotree{
	otBreast: {"8500/3": otIDC, "82711006": otIDC, "8520/3": otILC, "89740008": otILC, "8522/3": otMDLC},
	otLung:   {"8140/3": otLUAD, "35917007": otLUAD, "8070/3": otLUSC, "28899001": otLUSC, "8041/3": otSCLC},
	otNSCLC:  {"8140/3": otLUAD, "35917007": otLUAD, "8070/3": otLUSC, "28899001": otLUSC},
}

// markerDef says which tumour marker a LOINC test code measures and, for
// method-specific codes, the scoring method.
type markerDef struct{ marker, scoring string }

var markerLOINC = map[string]markerDef{
	"83053-9": {"PD_L1", ""},    // PD-L1 by immune stain
	"48676-1": {"HER2", ""},     // HER2 [Interpretation] in Tissue
	"85319-2": {"HER2", "IHC"},  // HER2 [Presence] in Breast cancer specimen by Immune stain
	"85318-4": {"HER2", "FISH"}, // HER2 [Presence] in Breast cancer specimen by FISH
	"18474-7": {"HER2", "IHC"},  // HER2 Ag [Presence] in Tissue by Immune stain
	"16112-5": {"ER", ""},       // Estrogen receptor [Interpretation] in Tissue
	"85337-4": {"ER", "IHC"},    // Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain
	"40556-3": {"ER", "IHC"},    // Estrogen receptor Ag [Presence] in Tissue by Immune stain
	"16113-3": {"PR", ""},       // Progesterone receptor [Interpretation] in Tissue
	"85339-0": {"PR", "IHC"},    // Progesterone receptor Ag [Presence] in Breast cancer specimen by Immune stain
	"40557-1": {"PR", "IHC"},    // Progesterone receptor Ag [Presence] in Tissue by Immune stain
	"94076-7": {"TMB", ""},      // Mutations/Megabase [# Ratio] in Tumor
	"81695-9": {"MSI", ""},      // Microsatellite instability [Interpretation] in Cancer specimen
}

// LOINC codes of the other facts.
const (
	loincVariant     = "69548-6"
	loincGene        = "48018-6"
	loincCHGVS       = "48004-6"
	loincPHGVS       = "48005-3"
	loincVAF         = "81258-6"
	loincAAChangeTyp = "48006-1"
	loincECOG        = "89247-1"
	loincKarnofsky   = "89243-0"
	loincStageClin   = "21908-9"
	loincStagePath   = "21902-2"
	loincDiseaseStat = "97509-4"
	loincAbsent      = "LA9634-2"
)

// ecogAnswers are the LOINC answers of 89247-1 (LL529-9).
var ecogAnswers = map[string]int32{
	"LA9622-7": 0, "LA9623-5": 1, "LA9624-3": 2, "LA9625-0": 3, "LA9626-8": 4, "LA9627-6": 5,
}

// resultCodes maps answer codes (SNOMED, LOINC, v3 interpretation) to the
// categorical result of a tumour marker.
var resultCodes = map[string]string{
	"10828004": "Positive", "260385009": "Negative", "42425007": "Equivocal", "260415000": "Negative",
	"LA6576-8": "Positive", "LA6577-6": "Negative", "LA11884-6": "Equivocal",
	"POS": "Positive", "NEG": "Negative", "IND": "Equivocal", "DET": "Positive", "ND": "Negative",
}

// resultFromDisplay is the fallback for answer codes not in resultCodes.
func resultFromDisplay(d string) string {
	d = strings.ToLower(d)
	switch {
	case strings.Contains(d, "msi-h") || strings.Contains(d, "instability high") || strings.Contains(d, "msi high"):
		return "MSI-H"
	case strings.Contains(d, "msi-l") || strings.Contains(d, "instability low"):
		return "MSI-L"
	case strings.Contains(d, "mss") || strings.Contains(d, "stable"):
		return "MSS"
	case strings.Contains(d, "dmmr") || strings.Contains(d, "deficient"):
		return "dMMR"
	case strings.Contains(d, "pmmr") || strings.Contains(d, "proficient"):
		return "pMMR"
	case strings.Contains(d, "negative"):
		return "Negative"
	case strings.Contains(d, "positive"):
		return "Positive"
	case strings.Contains(d, "equivocal") || strings.Contains(d, "indeterminate"):
		return "Equivocal"
	}
	return ""
}

// diseaseStatus maps mCODE cancer disease status answers (SNOMED).
var diseaseStatus = map[string]string{
	"268910001": "Improving",   // Patient's condition improved
	"359746009": "Stable",      // Patient's condition stable
	"271299001": "Progressing", // Patient's condition worsened
	"709137006": "",            // Patient condition undetermined
}

// hgnc maps HGNC ids to symbols for gene codings that carry no display.
var hgnc = map[string]string{
	"HGNC:11389": "STK11", "HGNC:8975": "PIK3CA", "HGNC:7989": "NRAS", "HGNC:6407": "KRAS",
	"HGNC:1097": "BRAF", "HGNC:3236": "EGFR", "HGNC:11998": "TP53", "HGNC:3430": "ERBB2",
	"HGNC:427": "ALK", "HGNC:1100": "BRCA1", "HGNC:1101": "BRCA2", "HGNC:9588": "PTEN",
}

// soClassification maps Sequence Ontology consequences to MAF
// Variant_Classification. Frameshift and in-frame changes are split into
// Del/Ins by the c.HGVS.
func soClassification(display, chgvs string) string {
	ins := strings.Contains(chgvs, "ins") || strings.Contains(chgvs, "dup")
	switch strings.ToLower(strings.TrimSpace(display)) {
	case "missense_variant", "missense":
		return "Missense_Mutation"
	case "synonymous_variant", "synonymous":
		return "Silent"
	case "stop_gained", "nonsense":
		return "Nonsense_Mutation"
	case "frameshift", "frameshift_variant":
		if ins {
			return "Frame_Shift_Ins"
		}
		return "Frame_Shift_Del"
	case "inframe_deletion":
		return "In_Frame_Del"
	case "inframe_insertion":
		return "In_Frame_Ins"
	case "inframe_variant", "inframe_indel":
		if ins {
			return "In_Frame_Ins"
		}
		return "In_Frame_Del"
	case "splice_acceptor_variant", "splice_donor_variant", "splice_region_variant":
		return "Splice_Site"
	case "start_lost":
		return "Translation_Start_Site"
	case "stop_lost":
		return "Nonstop_Mutation"
	}
	return ""
}

var aa3 = map[string]string{
	"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G",
	"His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S",
	"Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Ter": "*", "Sec": "U",
}

// oneLetterProtein rewrites p.His1047Arg as p.H1047R (MatchMiner's form);
// anything it does not recognise is returned unchanged.
func oneLetterProtein(p string) string {
	if !strings.HasPrefix(p, "p.") {
		return p
	}
	s := strings.Trim(p[2:], "()")
	var sb strings.Builder
	sb.WriteString("p.")
	for i := 0; i < len(s); {
		if i+3 <= len(s) {
			if one, ok := aa3[s[i:i+3]]; ok {
				sb.WriteString(one)
				i += 3
				continue
			}
		}
		sb.WriteByte(s[i])
		i++
	}
	return sb.String()
}

// hgvsPart strips a reference-sequence prefix (NM_006218.3:c.3140A>G).
func hgvsPart(s, kind string) string {
	if i := strings.Index(s, ":"+kind); i >= 0 {
		return s[i+1:]
	}
	return s
}

// restrictedZIP3 are the three-digit ZIP prefixes that HIPAA Safe Harbor
// (45 CFR 164.514(b)(2)(i)(B)) requires to be replaced by 000 because they
// cover fewer than 20,000 people.
var restrictedZIP3 = map[string]bool{
	"036": true, "059": true, "063": true, "102": true, "203": true, "556": true, "592": true,
	"790": true, "821": true, "823": true, "830": true, "831": true, "878": true, "879": true,
	"884": true, "890": true, "893": true,
}

// ajccStage turns an AJCC stage code (c3A, p2B, 4, yp1) into a stage group
// (IIIA, IIB, IV, I); ok is false for anything else.
func ajccStage(code string) (string, bool) {
	s := code
	for _, p := range []string{"yc", "yp", "c", "p", "r", "a"} {
		if strings.HasPrefix(s, p) && len(s) > len(p) && s[len(p)] >= '0' && s[len(p)] <= '4' {
			s = s[len(p):]
			break
		}
	}
	if s == "" || s[0] < '0' || s[0] > '4' {
		return "", false
	}
	roman := [...]string{"0", "I", "II", "III", "IV"}[s[0]-'0']
	rest := s[1:]
	if rest == "is" {
		return roman + "is", true
	}
	for _, r := range rest {
		if !(r >= 'A' && r <= 'C' || r >= 'a' && r <= 'c' || r >= '1' && r <= '3') {
			return "", false
		}
	}
	return roman + strings.ToUpper(rest), true
}

// stageFromDisplay parses SNOMED stage displays such as "Stage 3A
// (qualifier value)".
func stageFromDisplay(d string) (string, bool) {
	const p = "stage "
	i := strings.Index(strings.ToLower(d), p)
	if i < 0 {
		return "", false
	}
	rest := d[i+len(p):]
	if j := strings.IndexByte(rest, ' '); j >= 0 {
		rest = rest[:j]
	}
	return ajccStage(rest)
}
