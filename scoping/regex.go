package scoping

import (
	"fmt"
	"regexp"
	"regexp/syntax"

	"github.com/scimsync/scimsync/mapping"
)

// compileRegex compiles a .NET regular expression as Go's RE2, after rewriting the .NET named-group
// syntaxes (?<name>...) and (?'name'...) to (?P<name>...). Constructs RE2 lacks (lookaround,
// backreferences, atomic groups, \Z) are left alone so that they fail here, at Compile, rather than
// silently matching differently at evaluation.
func compileRegex(pattern string) (*regexp.Regexp, error) {
	translated := mapping.TranslateDotNetRegex(pattern)
	re, err := regexp.Compile(translated)
	if err != nil {
		return nil, fmt.Errorf("%w (.NET lookaround, backreferences, atomic groups and \\Z have no equivalent here)", err)
	}
	if fast := trimDotStars(translated); fast != translated {
		if fre, err := regexp.Compile(fast); err == nil {
			return fre, nil
		}
	}
	return re, nil
}

// trimDotStars drops leading and trailing top-level ".*" from a pattern. Administrators write
// `.*\@contoso.com` (Microsoft's own example); for an unanchored IsMatch, `.*X` and `X.*` match exactly
// the strings X matches somewhere, because ".*" may match nothing. Without them RE2 can search for a
// literal prefix instead of backtracking from every position, several times faster. The result is only
// used with MatchString: it would report different match positions.
func trimDotStars(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat {
		return pattern
	}
	dotStar := func(r *syntax.Regexp) bool {
		return r.Op == syntax.OpStar && len(r.Sub) == 1 &&
			(r.Sub[0].Op == syntax.OpAnyCharNotNL || r.Sub[0].Op == syntax.OpAnyChar)
	}
	subs := re.Sub
	for len(subs) > 1 && dotStar(subs[0]) {
		subs = subs[1:]
	}
	for len(subs) > 1 && dotStar(subs[len(subs)-1]) {
		subs = subs[:len(subs)-1]
	}
	if len(subs) == len(re.Sub) {
		return pattern
	}
	trimmed := *re
	trimmed.Sub = subs
	return trimmed.String()
}
