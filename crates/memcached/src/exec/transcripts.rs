//! Request/reply transcripts recorded from memcached 1.6.18 (Debian), each
//! on a fresh server: this server must answer byte for byte the same.

/// `(requests, replies)` pairs.
pub const TRANSCRIPTS: &[(&[u8], &[u8])] = &[
    (
        b"set a 5 0 3\r\nabc\r\nget a b\r\ngets a\r\n",
        b"STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\nVALUE a 5 3 1\r\nabc\r\nEND\r\n",
    ),
    (
        b"foo\r\n",
        b"ERROR\r\n",
    ),
    (
        b"\r\n",
        b"ERROR\r\n",
    ),
    (
        b"set a 5 0\r\nabc\r\n",
        b"ERROR\r\nERROR\r\n",
    ),
    (
        b"set a 0 0 -1\r\nabc\r\n",
        b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
    ),
    (
        b"set a 0 0 3\r\nabcd\r\nget a\r\n",
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n",
    ),
    (
        b"set a 0 0 3\r\nabcdefgh\r\nget a\r\n",
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n",
    ),
    (
        b"set a 0 0 3 1 2 3\r\n",
        b"ERROR\r\n",
    ),
    (
        b"set a 0 0 3 junk\r\nabc\r\nget a\r\n",
        b"STORED\r\nVALUE a 0 3\r\nabc\r\nEND\r\n",
    ),
    (
        b"set a 4294967295 0 3\r\nabc\r\nget a\r\n",
        b"STORED\r\nVALUE a 4294967295 3\r\nabc\r\nEND\r\n",
    ),
    (
        b"set a 0 0 1\r\n1\r\nget a kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk a\r\nget a\r\n",
        b"STORED\r\nVALUE a 0 1\r\n1\r\nVALUE a 0 1\r\n1\r\nEND\r\nVALUE a 0 1\r\n1\r\nEND\r\n",
    ),
    (
        b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\nincr n 2\r\nincr n -1\r\nincr n abc\r\nincr n 18446744073709551616\r\nincr nokey 1\r\ndecr n\r\nincr n 1 noreply\r\n",
        b"STORED\r\n15\r\n0\r\n18446744073709551615\r\n1\r\nCLIENT_ERROR invalid numeric delta argument\r\nCLIENT_ERROR invalid numeric delta argument\r\nCLIENT_ERROR invalid numeric delta argument\r\nNOT_FOUND\r\nERROR\r\n",
    ),
    (
        b"set t 0 0 3\r\nabc\r\nincr t 1\r\nset t 0 0 2\r\n 1\r\nincr t 1\r\nset t 0 0 2\r\n1 \r\nincr t 1\r\nset t 0 0 0\r\n\r\nincr t 1\r\nset t 0 0 3\r\n-12\r\nincr t 1\r\n",
        b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nSTORED\r\n2\r\nSTORED\r\n2\r\nSTORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nSTORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    ),
    (
        b"set n 0 0 2\r\n99\r\nincr n 1\r\nget n\r\n",
        b"STORED\r\n100\r\nVALUE n 0 3\r\n100\r\nEND\r\n",
    ),
    (
        b"set a 1 0 1\r\nx\r\ntouch a 10\r\ntouch zz 10\r\ntouch a\r\ntouch a abc\r\ntouch a 10 noreply\r\ngat 100 a zz\r\ngats 100 a\r\ngat a\r\ngat abc a\r\ngat 100\r\nget\r\n",
        b"STORED\r\nTOUCHED\r\nNOT_FOUND\r\nERROR\r\nCLIENT_ERROR invalid exptime argument\r\nVALUE a 1 1\r\nx\r\nEND\r\nVALUE a 1 1 1\r\nx\r\nEND\r\nCLIENT_ERROR invalid exptime argument\r\nCLIENT_ERROR invalid exptime argument\r\nEND\r\nERROR\r\n",
    ),
    (
        b"set a 1 0 1\r\nx\r\ndelete a 0\r\ndelete a 5\r\ndelete a noreply\r\ndelete a 0 noreply\r\ndelete a x y\r\ndelete\r\ndelete zz\r\n",
        b"STORED\r\nDELETED\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\nERROR\r\nNOT_FOUND\r\n",
    ),
    (
        b"flush_all 0\r\nflush_all abc\r\nflush_all noreply\r\nflush_all -1\r\nflush_all 0 0 0\r\nverbosity\r\nverbosity 1\r\nverbosity x\r\nverbosity 1 noreply\r\nflush_all 0\r\n",
        b"OK\r\nCLIENT_ERROR invalid exptime argument\r\nOK\r\nERROR\r\nERROR\r\nOK\r\nCLIENT_ERROR bad command line format\r\nOK\r\n",
    ),
    (
        b"quit\r\nget a\r\n",
        b"",
    ),
    (
        b"quit x\r\nget a\r\n",
        b"",
    ),
    (
        b"add a 0 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\nreplace b 0 0 1\r\nx\r\nreplace a 7 0 1\r\nz\r\nappend a 9 0 2\r\n++\r\nprepend a 9 0 2\r\n--\r\nappend q 0 0 1\r\nx\r\nprepend q 0 0 1\r\nx\r\nget a q\r\n",
        b"STORED\r\nNOT_STORED\r\nNOT_STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\nNOT_STORED\r\nNOT_STORED\r\nVALUE a 7 5\r\n--z++\r\nEND\r\n",
    ),
    (
        b"set a 0 0 1\r\nx\r\nflush_all\r\nget a\r\nset a 0 0 1\r\ny\r\nget a\r\n",
        b"STORED\r\nOK\r\nEND\r\nSTORED\r\nVALUE a 0 1\r\ny\r\nEND\r\n",
    ),
    (
        b"ms foo 3\r\nbar\r\nmg foo\r\nmg foo v\r\nmg foo s v f t c k Oabc\r\nmg nope\r\nmg nope q\r\nmg nope k Oxy q\r\nmg nope k Oxy\r\nmn\r\nms foo 2 F5 T100 c k Oq1\r\nhi\r\nmg foo v f t\r\nms foo 2 q\r\nyo\r\nmg foo v q\r\nmn\r\n",
        b"HD\r\nHD\r\nVA 3\r\nbar\r\nVA 3 s3 f0 t-1 c1 kfoo Oabc\r\nbar\r\nEN\r\nEN knope Oxy\r\nMN\r\nHD c2 kfoo Oq1\r\nVA 2 f5 t100\r\nhi\r\nVA 2\r\nyo\r\nMN\r\n",
    ),
    (
        b"ms foo 2\r\nyo\r\nms foo 2 ME\r\nzz\r\nms new 2 ME\r\nzz\r\nms nx 2 MR\r\nzz\r\nms foo 2 MA\r\n++\r\nms foo 2 MP\r\n--\r\nmg foo v\r\nms nx 2 MA\r\nzz\r\nms foo 2 MX\r\nzz\r\nms foo 2 C1\r\nzz\r\nmg foo c\r\nms foo 2 C4 c\r\nzz\r\nmg foo v c\r\n",
        b"HD\r\nNS\r\nHD\r\nNS\r\nHD\r\nHD\r\nVA 6\r\n--yo++\r\nNS\r\nCLIENT_ERROR invalid mode for ms M token\r\nEX\r\nHD c4\r\nHD c5\r\nVA 2 c5\r\nzz\r\n",
    ),
    (
        b"ms foo 1\r\nx\r\nmd foo\r\nmd foo\r\nmd foo q\r\nmd foo k Oab\r\nms foo 1\r\nx\r\nmg foo c\r\nmd foo C1\r\nmd foo C1 q\r\nmd foo q\r\nmn\r\n",
        b"HD\r\nHD\r\nNF\r\nNF\r\nNF kfoo Oab\r\nHD\r\nHD c2\r\nEX\r\nEX\r\nMN\r\n",
    ),
    (
        b"ma cnt\r\nma cnt q\r\nma cnt N0 J10\r\nma cnt\r\nma cnt v\r\nma cnt v D5 MD\r\nma cnt v D100 M-\r\nma cnt v t c k Oz\r\nma cnt q\r\nma cnt MX\r\nma cnt Dx\r\nms s 3\r\nabc\r\nma s\r\nma cnt C1\r\nma cnt T100 t v\r\nmn\r\n",
        b"NF\r\nNF\r\nHD\r\nHD\r\nVA 2\r\n12\r\nVA 1\r\n7\r\nVA 1\r\n0\r\nVA 1 t-1 c6 kcnt Oz\r\n1\r\nCLIENT_ERROR invalid mode for ma M token\r\nCLIENT_ERROR invalid or duplicate flag\r\nHD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nEX\r\nVA 1 t100\r\n3\r\nMN\r\n",
    ),
    (
        b"mg\r\nmg foo zz\r\nmg foo v v\r\nms foo\r\nms foo x\r\nabc\r\nms foo 3 Fx\r\nabc\r\nmg foo T\r\nmz\r\nme foo\r\nms foo -1\r\n",
        b"ERROR\r\nCLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\nCLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\nERROR\r\nCLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad token in command line format\r\nERROR\r\nEN\r\nCLIENT_ERROR bad command line format\r\n",
    ),
    (
        b"ms foo 2 T100\r\nhi\r\nmg foo h l t\r\nmg foo h l u\r\nmg foo h v u\r\n",
        b"HD\r\nHD h0 l0 t100\r\nHD h1 l0\r\nVA 2 h1\r\nhi\r\n",
    ),
    (
        b"mg foo N30 v c t\r\nmg foo N30 v t\r\nms foo 2 C1 I\r\nyo\r\nmg foo v\r\nmd foo I T30\r\nmg foo v t c\r\nmg foo v c\r\n",
        b"VA 0 c1 t30 W\r\n\r\nVA 0 t30 Z\r\n\r\nHD\r\nVA 2\r\nyo\r\nHD\r\nVA 2 t30 c3 X W\r\nyo\r\nVA 2 c3 Z X\r\nyo\r\n",
    ),
    (
        b"ms Zm9v 3 b\r\nbar\r\nmg foo v\r\nmg Zm9v b v k\r\nmg Zm9v b v k Oo q\r\nmd Zm9v b k\r\nmg Zm9v b k\r\nmg !!!! b\r\n",
        b"HD\r\nVA 3\r\nbar\r\nVA 3 kZm9v b\r\nbar\r\nVA 3 kZm9v b Oo\r\nbar\r\nHD kZm9v b\r\nEN kZm9v b\r\nCLIENT_ERROR error decoding key\r\n",
    ),
    (
        b"ms foo 3 Ooooooooooooooooooooooooooooooooooooooooo\r\nabc\r\nmg foo Ooooooooooooooooooooooooooooooooooooooooo\r\nmg foo a b c d e f g h i j k l n o p q r s t u\r\nmg foo s t\r\nmd foo Dx\r\n",
        b"CLIENT_ERROR opaque token too long\r\nCLIENT_ERROR opaque token too long\r\nCLIENT_ERROR options flags are too long\r\nEN\r\nCLIENT_ERROR invalid or duplicate flag\r\n",
    ),
    (
        b"ms foo 3 MEE\r\nabc\r\nmg foo Mxx\r\nma foo J\r\nma foo D\r\nms foo 2 S5\r\nab\r\n",
        b"CLIENT_ERROR incorrect length for M token\r\nCLIENT_ERROR incorrect length for M token\r\nCLIENT_ERROR invalid or duplicate flag\r\nCLIENT_ERROR invalid or duplicate flag\r\nCLIENT_ERROR invalid flag\r\n",
    ),
    (
        b"mn foo bar\r\nme\r\nmn\r\n",
        b"MN\r\nCLIENT_ERROR bad command line format\r\nMN\r\n",
    ),
    (
        b"stats detail\r\nstats foo\r\nstats reset\r\n",
        b"CLIENT_ERROR usage: stats detail on|off|dump\r\nERROR\r\nRESET\r\n",
    ),
    (
        b"set a 0 0 1\r\nx\r\nshutdown\r\ncache_memlimit\r\ncache_memlimit 4\r\ncache_memlimit x\r\ncache_memlimit 100\r\ncache_memlimit 100 noreply\r\n",
        b"STORED\r\nERROR: shutdown not enabled\r\nERROR\r\nMEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\nERROR\r\nOK\r\n",
    ),
    (
        b"   get a  \r\nget a\n",
        b"END\r\nEND\r\n",
    ),
];
