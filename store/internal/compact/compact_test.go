package compact

import "testing"

func TestShould(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		f    Figures
		p    Policy
		want bool
	}{
		{"empty file", Figures{FileBytes: 32 << 10, LiveBytes: 0, PageSize: 4096}, Policy{}, false},
		{"small file, all waste", Figures{FileBytes: 900 << 10, LiveBytes: 0, PageSize: 4096}, Policy{}, false},
		// 10,000 users as an initial cycle leaves them: 10.5 MiB of data, 6.9 MiB in use.
		{"initial cycle", Figures{FileBytes: 10.5 * mib, LiveBytes: 69 * mib / 10, PageSize: 4096}, Policy{}, true},
		// 7.33 MiB is the estimate of a 6.9 MiB live file: 10 % of 8 MiB is below the 20 % share.
		{"large file, little waste", Figures{FileBytes: 8 * mib, LiveBytes: 69 * mib / 10, PageSize: 4096}, Policy{}, false},
		{"share met, 1 MiB not", Figures{FileBytes: 3 * mib, LiveBytes: 2 * mib, PageSize: 4096}, Policy{}, false},
		{"share met, 1 MiB met", Figures{FileBytes: 4 * mib, LiveBytes: 2 * mib, PageSize: 4096}, Policy{}, true},
		{"live above the file (estimate off)", Figures{FileBytes: 4 * mib, LiveBytes: 5 * mib, PageSize: 4096}, Policy{}, false},
		{"own thresholds", Figures{FileBytes: 100 << 10, LiveBytes: 50 << 10, PageSize: 4096}, Policy{MinReclaim: 1, MinShare: 0.3}, true},
		{"own share not met", Figures{FileBytes: 100 << 10, LiveBytes: 50 << 10, PageSize: 4096}, Policy{MinReclaim: 1, MinShare: 0.5}, false},
	}
	for _, tt := range tests {
		if got := Should(tt.f, tt.p); got != tt.want {
			t.Errorf("%s: Should(%+v, %+v) = %v, want %v", tt.name, tt.f, tt.p, got, tt.want)
		}
	}
}
