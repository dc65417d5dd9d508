package history

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/trialflow/trialflow/schemas"
)

// Column indexes of Schema, in order.
const (
	colMatchID = iota
	colTenant
	colPatientID
	colProtocolNo
	colArmCode
	colDoseLevel
	colSiteID
	colAction
	colReasons
	colRetractionReason
	colTrialVersion
	colApprovalReference
	colEventTime
	colMatchTime
	numCols
)

// Reason field indexes of the reasons list element struct.
const (
	reasonType = iota
	reasonField
	reasonAlteration
	reasonLevel
	reasonFacts
)

// factStruct is the element of a reason's facts list.
var factStruct = arrow.StructOf(
	arrow.Field{Name: "kind", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "event_time", Type: tsType},
)

var tsType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// reasonType is the element of the reasons column.
var reasonStruct = arrow.StructOf(
	arrow.Field{Name: "reason_type", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "field", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "alteration", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "level", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "facts", Type: arrow.ListOfField(arrow.Field{Name: "element", Type: factStruct})},
)

// Schema is the Arrow schema of a history file: one row per approved-patient
// record, column names as in schemas/approved_patient.avsc. Optional Avro
// fields are nullable; reasons is List<Struct>; times are UTC microseconds.
// The tenant column is kept in the file (besides the partition path) so that
// every file is self-describing and tenant isolation can be checked per file.
var Schema = arrow.NewSchema([]arrow.Field{
	colMatchID:           {Name: "match_id", Type: arrow.BinaryTypes.String},
	colTenant:            {Name: "tenant", Type: arrow.BinaryTypes.String},
	colPatientID:         {Name: "patient_id", Type: arrow.BinaryTypes.String},
	colProtocolNo:        {Name: "protocol_no", Type: arrow.BinaryTypes.String},
	colArmCode:           {Name: "arm_code", Type: arrow.BinaryTypes.String, Nullable: true},
	colDoseLevel:         {Name: "dose_level", Type: arrow.BinaryTypes.String, Nullable: true},
	colSiteID:            {Name: "site_id", Type: arrow.BinaryTypes.String, Nullable: true},
	colAction:            {Name: "action", Type: arrow.BinaryTypes.String},
	colReasons:           {Name: "reasons", Type: arrow.ListOfField(arrow.Field{Name: "element", Type: reasonStruct})},
	colRetractionReason:  {Name: "retraction_reason", Type: arrow.BinaryTypes.String, Nullable: true},
	colTrialVersion:      {Name: "trial_version", Type: arrow.PrimitiveTypes.Int64},
	colApprovalReference: {Name: "approval_reference", Type: arrow.BinaryTypes.String, Nullable: true},
	colEventTime:         {Name: "event_time", Type: tsType},
	colMatchTime:         {Name: "match_time", Type: tsType},
}, nil)

func appendOpt(b *array.StringBuilder, s *string) {
	if s == nil {
		b.AppendNull()
		return
	}
	b.Append(*s)
}

// appendRow appends a to the builders of rb, which must have Schema.
func appendRow(rb *array.RecordBuilder, a *schemas.ApprovedPatient) {
	str := func(i int) *array.StringBuilder { return rb.Field(i).(*array.StringBuilder) }
	str(colMatchID).Append(a.MatchID)
	str(colTenant).Append(a.Tenant)
	str(colPatientID).Append(a.PatientID)
	str(colProtocolNo).Append(a.ProtocolNo)
	appendOpt(str(colArmCode), a.ArmCode)
	appendOpt(str(colDoseLevel), a.DoseLevel)
	appendOpt(str(colSiteID), a.SiteID)
	str(colAction).Append(a.Action)

	lb := rb.Field(colReasons).(*array.ListBuilder)
	lb.Append(true)
	sb := lb.ValueBuilder().(*array.StructBuilder)
	for i := range a.Reasons {
		r := &a.Reasons[i]
		sb.Append(true)
		sb.FieldBuilder(reasonType).(*array.StringBuilder).Append(r.ReasonType)
		sb.FieldBuilder(reasonField).(*array.StringBuilder).Append(r.Field)
		appendOpt(sb.FieldBuilder(reasonAlteration).(*array.StringBuilder), r.Alteration)
		appendOpt(sb.FieldBuilder(reasonLevel).(*array.StringBuilder), r.Level)
		fl := sb.FieldBuilder(reasonFacts).(*array.ListBuilder)
		fl.Append(true)
		fs := fl.ValueBuilder().(*array.StructBuilder)
		for _, f := range r.Facts {
			fs.Append(true)
			fs.FieldBuilder(0).(*array.StringBuilder).Append(f.Kind)
			fs.FieldBuilder(1).(*array.TimestampBuilder).Append(arrow.Timestamp(f.EventTime.UnixMicro()))
		}
	}

	appendOpt(str(colRetractionReason), a.RetractionReason)
	rb.Field(colTrialVersion).(*array.Int64Builder).Append(a.TrialVersion)
	appendOpt(str(colApprovalReference), a.ApprovalReference)
	rb.Field(colEventTime).(*array.TimestampBuilder).Append(arrow.Timestamp(a.EventTime.UnixMicro()))
	rb.Field(colMatchTime).(*array.TimestampBuilder).Append(arrow.Timestamp(a.MatchTime.UnixMicro()))
}

func optStr(a *array.String, i int) *string {
	if a.IsNull(i) {
		return nil
	}
	s := a.Value(i)
	return &s
}

// rowsOf decodes the rows of rec (which must have Schema's columns in
// order) and appends them to dst.
func rowsOf(dst []schemas.ApprovedPatient, rec arrow.RecordBatch) ([]schemas.ApprovedPatient, error) {
	if err := checkSchema(rec.Schema()); err != nil {
		return dst, err
	}
	col := func(i int) *array.String { return rec.Column(i).(*array.String) }
	reasons := rec.Column(colReasons).(*array.List)
	rs := reasons.ListValues().(*array.Struct)
	rType := rs.Field(reasonType).(*array.String)
	rField := rs.Field(reasonField).(*array.String)
	rAlt := rs.Field(reasonAlteration).(*array.String)
	rLevel := rs.Field(reasonLevel).(*array.String)
	// Files written before reasons named their facts have no facts field.
	var rFacts *array.List
	var fKind *array.String
	var fTime *array.Timestamp
	if rs.NumField() > reasonFacts {
		rFacts = rs.Field(reasonFacts).(*array.List)
		fv := rFacts.ListValues().(*array.Struct)
		fKind, fTime = fv.Field(0).(*array.String), fv.Field(1).(*array.Timestamp)
	}
	version := rec.Column(colTrialVersion).(*array.Int64)
	evt := rec.Column(colEventTime).(*array.Timestamp)
	mt := rec.Column(colMatchTime).(*array.Timestamp)
	for i := 0; i < int(rec.NumRows()); i++ {
		a := schemas.ApprovedPatient{
			MatchID:           col(colMatchID).Value(i),
			Tenant:            col(colTenant).Value(i),
			PatientID:         col(colPatientID).Value(i),
			ProtocolNo:        col(colProtocolNo).Value(i),
			ArmCode:           optStr(col(colArmCode), i),
			DoseLevel:         optStr(col(colDoseLevel), i),
			SiteID:            optStr(col(colSiteID), i),
			Action:            col(colAction).Value(i),
			RetractionReason:  optStr(col(colRetractionReason), i),
			TrialVersion:      version.Value(i),
			ApprovalReference: optStr(col(colApprovalReference), i),
			EventTime:         time.UnixMicro(int64(evt.Value(i))).UTC(),
			MatchTime:         time.UnixMicro(int64(mt.Value(i))).UTC(),
		}
		if !reasons.IsNull(i) {
			start, end := reasons.ValueOffsets(i)
			if end > start {
				a.Reasons = make([]schemas.MatchReason, 0, end-start)
			}
			for j := int(start); j < int(end); j++ {
				r := schemas.MatchReason{
					ReasonType: rType.Value(j), Field: rField.Value(j),
					Alteration: optStr(rAlt, j), Level: optStr(rLevel, j),
				}
				if rFacts != nil && !rFacts.IsNull(j) {
					fs, fe := rFacts.ValueOffsets(j)
					for k := int(fs); k < int(fe); k++ {
						r.Facts = append(r.Facts, schemas.FactRef{Kind: fKind.Value(k), EventTime: time.UnixMicro(int64(fTime.Value(k))).UTC()})
					}
				}
				a.Reasons = append(a.Reasons, r)
			}
		}
		dst = append(dst, a)
	}
	return dst, nil
}

// checkSchema reports whether sc has the columns of Schema, in order and
// with the same types (list element names and nullability may differ, as
// Parquet readers name list elements differently).
func checkSchema(sc *arrow.Schema) error {
	if sc.NumFields() != numCols {
		return fmt.Errorf("history: file has %d columns, want %d", sc.NumFields(), numCols)
	}
	for i := 0; i < numCols; i++ {
		got, want := sc.Field(i), Schema.Field(i)
		if got.Name != want.Name {
			return fmt.Errorf("history: column %d is %q, want %q", i, got.Name, want.Name)
		}
		if i == colReasons {
			lt, ok := got.Type.(*arrow.ListType)
			if !ok || !(sameReasons(lt.Elem(), reasonStruct) || sameReasons(lt.Elem(), reasonStructV1)) {
				return fmt.Errorf("history: column %q has type %v, want %v", got.Name, got.Type, want.Type)
			}
			continue
		}
		if !arrow.TypeEqual(got.Type, want.Type) {
			return fmt.Errorf("history: column %q has type %v, want %v", got.Name, got.Type, want.Type)
		}
	}
	return nil
}

// reasonStructV1 is the reasons element of files written before reasons
// named their facts; they are read with no facts.
var reasonStructV1 = arrow.StructOf(reasonStruct.Fields()[:reasonFacts]...)

// sameReasons compares reason element types by field names and types,
// ignoring the names and nullability Parquet readers give list elements.
func sameReasons(got, want arrow.DataType) bool {
	g, ok1 := got.(*arrow.StructType)
	w, ok2 := want.(*arrow.StructType)
	if !ok1 || !ok2 || g.NumFields() != w.NumFields() {
		return false
	}
	for i := range w.Fields() {
		gf, wf := g.Field(i), w.Field(i)
		if gf.Name != wf.Name {
			return false
		}
		gl, gok := gf.Type.(*arrow.ListType)
		wl, wok := wf.Type.(*arrow.ListType)
		if gok && wok {
			if !arrow.TypeEqual(gl.Elem(), wl.Elem()) {
				return false
			}
			continue
		}
		if !arrow.TypeEqual(gf.Type, wf.Type) {
			return false
		}
	}
	return true
}
