package builtin

import (
	"errors"
	"fmt"

	"github.com/scimsync/scimsync/mapping/internal/dates"
	"github.com/scimsync/scimsync/mapping/internal/netfmt"
	"github.com/scimsync/scimsync/mapping/internal/syntax"
	"github.com/scimsync/scimsync/mapping/internal/value"
)

// The date functions: conversions, arithmetic and .NET date formats.

func fnCDate(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsNull() {
		return v, err
	}
	t, err := value.DateOf(v)
	if err != nil {
		return value.Value{}, st.wrap(n, err)
	}
	return value.Date(t), nil
}

// checkInterval validates a constant interval of DateAdd/DateDiff at load and keeps its canonical form.
func checkInterval(n *syntax.Node) error {
	if v, ok := n.Constant(0); ok {
		iv, ok := dates.NormInterval(v.String())
		if !ok {
			return fmt.Errorf("unknown interval %q (expected %s)", v.String(), dates.IntervalList)
		}
		n.Prep = iv
	}
	return nil
}

func (st *evalState) interval(n *syntax.Node) (string, error) {
	if iv, ok := n.Prep.(string); ok {
		return iv, nil
	}
	s, err := st.strArg(n, 0)
	if err != nil {
		return "", err
	}
	iv, ok := dates.NormInterval(s)
	if !ok {
		return "", st.fail(n, "unknown interval %q (expected %s)", s, dates.IntervalList)
	}
	return iv, nil
}

func fnDateAdd(st *evalState, n *syntax.Node) (value.Value, error) {
	iv, err := st.interval(n)
	if err != nil {
		return value.Value{}, err
	}
	k, err := st.intArg(n, 1, "value")
	if err != nil {
		return value.Value{}, err
	}
	v, err := st.arg(n, 2)
	if err != nil || v.IsNull() {
		return v, err
	}
	t, err := value.DateOf(v)
	if err != nil {
		return value.Value{}, st.wrap(n, err)
	}
	r, err := dates.Add(iv, k, t)
	if err != nil {
		return value.Value{}, st.wrap(n, fmt.Errorf("adding %d %q to %s: %w", k, iv, t.Format(value.DateLayout), err))
	}
	return value.Date(r), nil
}

func fnDateDiff(st *evalState, n *syntax.Node) (value.Value, error) {
	iv, err := st.interval(n)
	if err != nil {
		return value.Value{}, err
	}
	v1, err := st.arg(n, 1)
	if err != nil {
		return value.Value{}, err
	}
	v2, err := st.arg(n, 2)
	if err != nil {
		return value.Value{}, err
	}
	if v1.IsEmpty() || v2.IsEmpty() {
		return value.Null(), nil
	}
	d1, err := value.DateOf(v1)
	if err != nil {
		return value.Value{}, st.wrap(n, fmt.Errorf("date1: %w", err))
	}
	d2, err := value.DateOf(v2)
	if err != nil {
		return value.Value{}, st.wrap(n, fmt.Errorf("date2: %w", err))
	}
	d, err := dates.Diff(iv, d1, d2)
	if err != nil {
		return value.Value{}, st.wrap(n, err)
	}
	return value.Int(d), nil
}

func fnDateFromNum(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsEmpty() {
		return value.Null(), err
	}
	x, ok := v.AsInt()
	if !ok {
		return value.Value{}, st.fail(n, "%q is not an integer", v.String())
	}
	t, err := dates.FromFileTime(x)
	if err != nil {
		return value.Value{}, st.wrap(n, err)
	}
	return value.Date(t), nil
}

// fdtPrep is FormatDateTime's precompiled constant arguments.
type fdtPrep struct {
	styles     netfmt.Styles
	stylesDone bool // styles is final (omitted or constant)
	in, out    *netfmt.Format
	stylesIdx  int // -1 in the three-argument form
	inIdx      int
	outIdx     int
}

// FormatDateTime takes (source, dateTimeStyles, inputFormat, outputFormat), or the older three-argument
// form (source, inputFormat, outputFormat).
func checkFormatDateTime(n *syntax.Node) error {
	p := &fdtPrep{stylesIdx: -1, inIdx: 1, outIdx: 2}
	if len(n.Args) == 4 {
		p.stylesIdx, p.inIdx, p.outIdx = 1, 2, 3
	}
	if p.stylesIdx < 0 || n.Omitted(p.stylesIdx) {
		p.styles, p.stylesDone = netfmt.DefaultStyles, true
	} else if v, ok := n.Constant(p.stylesIdx); ok {
		s, err := netfmt.ParseStyles(v.String())
		if err != nil {
			return err
		}
		p.styles, p.stylesDone = s, true
	}
	if n.Omitted(p.inIdx) || n.Omitted(p.outIdx) {
		return errors.New("inputFormat and outputFormat are required")
	}
	for _, f := range []struct {
		idx int
		dst **netfmt.Format
	}{{p.inIdx, &p.in}, {p.outIdx, &p.out}} {
		if v, ok := n.Constant(f.idx); ok {
			nf, err := netfmt.Compile(v.String())
			if err != nil {
				return err
			}
			*f.dst = nf
		}
	}
	n.Prep = p
	return nil
}

func (st *evalState) netFormatArg(n *syntax.Node, i int, pre *netfmt.Format) (*netfmt.Format, error) {
	return compiledArg(st, n, i, pre, netfmt.Compile)
}

func fnFormatDateTime(st *evalState, n *syntax.Node) (value.Value, error) {
	p, _ := n.Prep.(*fdtPrep)
	if p == nil {
		return value.Value{}, st.fail(n, "not compiled")
	}
	v, err := st.arg(n, 0)
	if err != nil || v.IsEmpty() {
		return value.Null(), err
	}
	styles := p.styles
	if !p.stylesDone {
		s, err := st.strArg(n, p.stylesIdx)
		if err != nil {
			return value.Value{}, err
		}
		if styles, err = netfmt.ParseStyles(s); err != nil {
			return value.Value{}, st.wrap(n, err)
		}
	}
	out, err := st.netFormatArg(n, p.outIdx, p.out)
	if err != nil {
		return value.Value{}, err
	}
	if t, ok := v.AsTime(); ok {
		return value.Str(out.Render(t, netfmt.UTC)), nil
	}
	in, err := st.netFormatArg(n, p.inIdx, p.in)
	if err != nil {
		return value.Value{}, err
	}
	t, kind, err := in.Parse(v.String(), styles, st.env.now())
	if err != nil {
		return value.Value{}, st.wrap(n, err)
	}
	return value.Str(out.Render(t, kind)), nil
}

func fnNow(st *evalState, _ *syntax.Node) (value.Value, error) { return value.Date(st.env.now()), nil }

func fnNumFromDate(st *evalState, n *syntax.Node) (value.Value, error) {
	v, err := st.arg(n, 0)
	if err != nil || v.IsEmpty() {
		return value.Null(), err
	}
	t, err := value.DateOf(v)
	if err != nil {
		return value.Value{}, st.wrap(n, err)
	}
	x, err := dates.ToFileTime(t)
	if err != nil {
		return value.Value{}, st.wrap(n, err)
	}
	return value.Int(x), nil
}
