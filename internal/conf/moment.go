package conf

import (
	"fmt"
	"strconv"
	"time"
)

// MomentLayout is a parsed PM2 log_date_format: a moment.js format string.
//
// It is its own formatter rather than a translation to a Go layout because Go
// layouts cannot say everything moment can: Go has no unpadded 24-hour hour
// (moment's H), fractional seconds only right after a '.' or ',' (moment's
// SSS stands anywhere), and no escaping, so literal text such as "[at] 10"
// or "[Monday:]" would be taken for layout elements.
type MomentLayout struct {
	items []momentItem
}

type momentItem struct {
	tok momentToken
	n   int    // digits of a fraction token
	lit string // text of a literal item
}

type momentToken int

const (
	tokLiteral      momentToken = iota
	tokYear4                    // YYYY 2024
	tokYear2                    // YY 24
	tokMonthName                // MMMM January
	tokMonthShort               // MMM Jan
	tokMonth2                   // MM 01
	tokMonth                    // M 1
	tokDayOfYear3               // DDDD 001
	tokDayOfYear                // DDD 1
	tokDay2                     // DD 02
	tokDay                      // D 2
	tokWeekdayName              // dddd Monday
	tokWeekdayShort             // ddd Mon
	tokWeekdayMin               // dd Mo
	tokWeekday                  // d 1 (0 is Sunday)
	tokHour2                    // HH 15
	tokHour                     // H 15, 9
	tokHour12x2                 // hh 03
	tokHour12                   // h 3
	tokMinute2                  // mm 04
	tokMinute                   // m 4
	tokSecond2                  // ss 05
	tokSecond                   // s 5
	tokFraction                 // S…SSSSSSSSS: that many digits of the second, truncated
	tokAMPM                     // A PM
	tokampm                     // a pm
	tokZone                     // Z +07:00
	tokZoneCompact              // ZZ +0700
	tokUnix                     // X 1700000000
	tokUnixMilli                // x 1700000000000
)

// momentTokens maps a letter and the length of its run to a token. A run of
// a letter at a length not listed here is an error: "YYY" or "MMMMM" are far
// more likely typos than intent.
var momentTokens = map[byte]map[int]momentToken{
	'Y': {4: tokYear4, 2: tokYear2},
	'M': {4: tokMonthName, 3: tokMonthShort, 2: tokMonth2, 1: tokMonth},
	'D': {4: tokDayOfYear3, 3: tokDayOfYear, 2: tokDay2, 1: tokDay},
	'd': {4: tokWeekdayName, 3: tokWeekdayShort, 2: tokWeekdayMin, 1: tokWeekday},
	'H': {2: tokHour2, 1: tokHour},
	'h': {2: tokHour12x2, 1: tokHour12},
	'm': {2: tokMinute2, 1: tokMinute},
	's': {2: tokSecond2, 1: tokSecond},
	'A': {1: tokAMPM},
	'a': {1: tokampm},
	'Z': {2: tokZoneCompact, 1: tokZone},
	'X': {1: tokUnix},
	'x': {1: tokUnixMilli},
}

// ParseMomentLayout parses a moment.js date format as PM2's log_date_format
// takes it, e.g. "YYYY-MM-DD HH:mm:ss Z".
//
// Tokens: YYYY YY, MMMM MMM MM M, DDDD DDD DD D (DDD is the day of the year),
// dddd ddd dd d (weekday), HH H, hh h, mm m, ss s, S to SSSSSSSSS (fraction of
// the second), A a, Z ZZ, X (Unix seconds), x (Unix milliseconds). Text in
// [brackets] is literal, as is every character that is not an ASCII letter,
// and a lone T (moment passes it through, and ISO layouts such as
// "YYYY-MM-DDTHH:mm:ss" rely on that). Any other letter is an error, so that
// a typo is reported when the config is loaded rather than printed in every
// line.
func ParseMomentLayout(s string) (MomentLayout, error) {
	var ml MomentLayout
	lit := func(t string) {
		if n := len(ml.items); n > 0 && ml.items[n-1].tok == tokLiteral {
			ml.items[n-1].lit += t
			return
		}
		ml.items = append(ml.items, momentItem{tok: tokLiteral, lit: t})
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '[':
			j := i + 1
			for j < len(s) && s[j] != ']' {
				j++
			}
			if j == len(s) {
				return MomentLayout{}, fmt.Errorf("date format %q: '[' at offset %d is never closed by ']'", s, i)
			}
			lit(s[i+1 : j])
			i = j + 1
		case isLetter(c):
			j := i
			for j < len(s) && s[j] == c {
				j++
			}
			run := j - i
			switch {
			case c == 'T' && run == 1:
				lit("T")
			case c == 'S' && run <= 9:
				ml.items = append(ml.items, momentItem{tok: tokFraction, n: run})
			default:
				tok, ok := momentTokens[c][run]
				if !ok {
					return MomentLayout{}, fmt.Errorf("date format %q: unknown token %q at offset %d (put literal text in [brackets])", s, s[i:j], i)
				}
				ml.items = append(ml.items, momentItem{tok: tok})
			}
			i = j
		default:
			j := i
			for j < len(s) && s[j] != '[' && !isLetter(s[j]) {
				j++
			}
			lit(s[i:j])
			i = j
		}
	}
	return ml, nil
}

// Format returns t formatted by the layout, in t's location.
func (ml MomentLayout) Format(t time.Time) string {
	return string(ml.AppendFormat(nil, t))
}

// AppendFormat appends t formatted by the layout, in t's location, to b.
func (ml MomentLayout) AppendFormat(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	for _, it := range ml.items {
		switch it.tok {
		case tokLiteral:
			b = append(b, it.lit...)
		case tokYear4:
			b = appendPadded(b, year, 4)
		case tokYear2:
			b = appendPadded(b, year%100, 2)
		case tokMonthName:
			b = append(b, month.String()...)
		case tokMonthShort:
			b = append(b, month.String()[:3]...)
		case tokMonth2:
			b = appendPadded(b, int(month), 2)
		case tokMonth:
			b = strconv.AppendInt(b, int64(month), 10)
		case tokDayOfYear3:
			b = appendPadded(b, t.YearDay(), 3)
		case tokDayOfYear:
			b = strconv.AppendInt(b, int64(t.YearDay()), 10)
		case tokDay2:
			b = appendPadded(b, day, 2)
		case tokDay:
			b = strconv.AppendInt(b, int64(day), 10)
		case tokWeekdayName:
			b = append(b, t.Weekday().String()...)
		case tokWeekdayShort:
			b = append(b, t.Weekday().String()[:3]...)
		case tokWeekdayMin:
			b = append(b, t.Weekday().String()[:2]...)
		case tokWeekday:
			b = strconv.AppendInt(b, int64(t.Weekday()), 10)
		case tokHour2:
			b = appendPadded(b, hour, 2)
		case tokHour:
			b = strconv.AppendInt(b, int64(hour), 10)
		case tokHour12x2:
			b = appendPadded(b, hour12(hour), 2)
		case tokHour12:
			b = strconv.AppendInt(b, int64(hour12(hour)), 10)
		case tokMinute2:
			b = appendPadded(b, min, 2)
		case tokMinute:
			b = strconv.AppendInt(b, int64(min), 10)
		case tokSecond2:
			b = appendPadded(b, sec, 2)
		case tokSecond:
			b = strconv.AppendInt(b, int64(sec), 10)
		case tokFraction:
			frac := t.Nanosecond()
			for range 9 - it.n {
				frac /= 10
			}
			b = appendPadded(b, frac, it.n)
		case tokAMPM, tokampm:
			ampm := "AM"
			switch {
			case hour >= 12 && it.tok == tokampm:
				ampm = "pm"
			case hour >= 12:
				ampm = "PM"
			case it.tok == tokampm:
				ampm = "am"
			}
			b = append(b, ampm...)
		case tokZone, tokZoneCompact:
			_, off := t.Zone()
			sign := byte('+')
			if off < 0 {
				sign, off = '-', -off
			}
			b = append(b, sign)
			b = appendPadded(b, off/3600, 2)
			if it.tok == tokZone {
				b = append(b, ':')
			}
			b = appendPadded(b, off/60%60, 2)
		case tokUnix:
			b = strconv.AppendInt(b, t.Unix(), 10)
		case tokUnixMilli:
			b = strconv.AppendInt(b, t.UnixMilli(), 10)
		}
	}
	return b
}

func hour12(h int) int {
	if h%12 == 0 {
		return 12
	}
	return h % 12
}

// appendPadded appends v in decimal, left-padded with zeros to width digits.
func appendPadded(b []byte, v, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	i := len(tmp)
	for v > 0 || len(tmp)-i < width || i == len(tmp) {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, tmp[i:]...)
}
