package capture

import (
	"testing"
)

func TestRecorderRoundTrip(t *testing.T) {
	steps := scenario(t, regtest)
	file := record(t, steps, RecorderConfig{})
	recs, d := decodeAll(t, file, DecoderConfig{})
	if len(recs) != len(steps) {
		for _, r := range recs {
			t.Log(string(r.AppendText(nil, nil)))
		}
		t.Fatalf("decoded %d records, recorded %d steps; stats %+v", len(recs), len(steps), d.Stats())
	}
	for i, r := range recs {
		t.Log(string(r.AppendText(nil, nil)))
		if r.Command != steps[i].command || r.Direction != steps[i].dir {
			t.Errorf("record %d: %s %s, want %s %s", i, r.Direction, r.Command, steps[i].dir, steps[i].command)
		}
		if r.Kind != KindMessage && r.Kind != KindBeacon {
			t.Errorf("record %d: kind %s: %s", i, r.Kind, r.Summary)
		}
	}
}
