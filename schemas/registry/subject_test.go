package registry

import "testing"

func TestSubject(t *testing.T) {
	tests := []struct {
		s     SubjectNameStrategy
		isKey bool
		want  string
	}{
		{TopicName, false, "patient_facts-value"},
		{TopicName, true, "patient_facts-key"},
		{RecordName, false, "org.trialflow.facts.PatientFact"},
		{RecordName, true, "org.trialflow.facts.PatientFact"},
		{TopicRecordName, false, "patient_facts-org.trialflow.facts.PatientFact"},
	}
	for _, tt := range tests {
		if got := Subject(tt.s, "patient_facts", "org.trialflow.facts.PatientFact", tt.isKey); got != tt.want {
			t.Errorf("Subject(%v, key=%v) = %q, want %q", tt.s, tt.isKey, got, tt.want)
		}
		back, err := ParseSubjectNameStrategy(tt.s.String())
		if err != nil || back != tt.s {
			t.Errorf("ParseSubjectNameStrategy(%q) = %v, %v", tt.s.String(), back, err)
		}
	}
	if _, err := ParseSubjectNameStrategy("wild"); err == nil {
		t.Error("ParseSubjectNameStrategy(wild): no error")
	}
}

func TestNewClientRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8081", "ftp://x"} {
		if _, err := NewClient(u); err == nil {
			t.Errorf("NewClient(%q): no error", u)
		}
	}
	if _, err := NewClient("http://x", WithBasicAuth("user", "")); err == nil {
		t.Error("NewClient with half basic auth: no error")
	}
}
