#!/usr/bin/env perl
# Fixed-port fixture, not Node: listens on FIXED_PORT, a port of its own as
# an app with a hard-coded port has, without SO_REUSEPORT, so that a second
# instance cannot bind it. Perl, as it starts in a blink where python3 may
# take a second on a loaded machine. Answers each connection with its pid.
use strict;
use warnings;
use IO::Socket::INET;

my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $ENV{FIXED_PORT}, Listen => 16, ReuseAddr => 1)
  or die "listen on port $ENV{FIXED_PORT}: $@\n";
$SIG{INT} = sub { exit 0 };
while (my $c = $s->accept) {
  print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n$$\n";
  close $c;
}
