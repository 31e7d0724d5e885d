/*  The command line of parley-bench: parses options into bn_opts_t, fills the
    per-scenario defaults, refuses values outside their bounds (every run is bounded
    in connections and time) and prints the usage. */
#include "bench.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_usage(FILE *to)
{
    fprintf(to,
            "usage: parley-bench SCENARIO --port P [options]\n"
            "Scenarios:\n"
            "  fanout   one room of N members, one sender (conn 0) publishing as fast as its\n"
            "           window of unacked sends allows, or at --rate msg/s\n"
            "  rooms    N users in rooms of K members, each sending --rate msg/s\n"
            "           (or keeping --window sends in flight when --rate 0)\n"
            "  connect  connect and subscribe N clients as fast as possible, hold --duration s\n"
            "  soak     a day's mix for --duration s: rooms of K members sending at --rate,\n"
            "           reconnects with since, slow readers, bad frames, SSE streams, HTTP\n"
            "           reads, publishes, joins and leaves; checks the store at the end\n"
            "Options:\n"
            "  --port P             server port on " BN_HOST " (required, or --ports)\n"
            "  --ports P1,P2,...    several nodes of one cluster: connection i connects to\n"
            "                       the (i %% n)-th, HTTP setup goes to P1\n"
            "  --protocol parley|raw|socketio\n"
            "                       raw: ws://host:port/, no auth, broadcast-all peers;\n"
            "                       socketio: the same over Socket.IO v5 (" BN_SIO_PATH "),\n"
            "                       every frame a \"message\" event\n"
            "  --conns N            connections (default 1000)\n"
            "  --group K            members per room for rooms/connect (default 10)\n"
            "  --threads T          generator threads (default 1)\n"
            "  --window W           unacked sends per sender (fanout default 1, rooms 0)\n"
            "  --rate R             msg/s (fanout: total; rooms: per user; default 0)\n"
            "  --burst B            fanout: frames written with one send() (default 1)\n"
            "  --pace ack|echo      fanout: a send stops counting against the window at its\n"
            "                       ack (default) or when the sender's own copy arrives (raw\n"
            "                       always uses its own copy: it has no acks)\n"
            "  --receivers ws|sse   fanout: the members other than the sender listen on\n"
            "                       WebSockets (default) or, unsubscribed, on their SSE\n"
            "                       notification streams: each push carries the latest\n"
            "                       message, and every stream must end on the last one\n"
            "  --duration D         seconds (default 10)\n"
            "  --body-bytes S       message body / raw frame padding (default 64)\n"
            "  --concurrency C      connects in flight (default 256)\n"
            "  --setup-conns S      parallel HTTP setup connections (default 8)\n"
            "  --server-pid PID     sample the server's CPU and RSS from /proc\n"
            "  --cache FILE         reuse users/rooms created by an earlier run on this server\n"
            "  --label NAME         server name in the report (default the protocol)\n"
            "  --connect-timeout S  give up connecting after S seconds (default 120)\n"
            "  --drain-timeout S    wait S seconds for the last deliveries (default 10)\n"
            "  --allow-refused      503 refusals do not fail the run (connect past the limit)\n"
            "  --server-bin PATH    soak: start this parley (flags after --) on a free port and\n"
            "                       a new data dir, instead of using the one on --port\n"
            "  --server-cpu C       soak: pin the server it starts to CPU C\n"
            "  --kill-every S       soak: kill -9 and restart the server every S s on average\n"
            "                       (uniformly 0.5 S to 1.5 S apart; needs --server-bin)\n"
            "  --warmup S           soak: after each start, RSS and fds from S s on must stay\n"
            "                       within 5 %% (default 20)\n"
            "  --rss-limit P        soak: RSS may grow P %% after warm-up (default 5); a soak\n"
            "                       shorter than the store's page cache takes to fill needs more\n"
            "  --http-rate R        soak: HTTP reads, publishes, joins, leaves per s (default 20)\n"
            "  --late-retries       soak: slow readers stop reading with sends unacked, so they\n"
            "                       send them again only after their cut, thousands of messages\n"
            "                       later (by default they wait for their acks first)\n"
            "  --json               print one JSON line after the table\n"
            "  --quiet              print only the JSON line\n"
            "Exit status: 0 when the run verified (no gaps, dups, missing deliveries or\n"
            "errors), 2 when it did not, 1 on bad usage or setup failure.\n");
}

static bool s_num(const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

//  "P1,P2,...": every one a port; the first is also o->port.
static bool s_ports(bn_opts_t *o, const char *text)
{
    char buf[256];
    if (strlen(text) >= sizeof buf)
        return false;
    strcpy(buf, text);
    o->nports = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        double v;
        if (o->nports == BN_MAX_PORTS || !s_num(tok, 1, 65535, &v))
            return false;
        o->ports[o->nports++] = (int)v;
    }
    o->port = o->nports ? o->ports[0] : 0;
    return o->nports > 0;
}

const char *bn_proto_name(bn_proto_t proto)
{
    return proto == BN_RAW ? "raw" : proto == BN_SOCKETIO ? "socketio" : "parley";
}

int bn_opts_parse(bn_opts_t *o, int argc, char **argv)
{
    *o = (bn_opts_t){.proto = BN_PARLEY,
                     .conns = 1000,
                     .group = 10,
                     .threads = 1,
                     .window = -1,
                     .duration = 10,
                     .burst = 1,
                     .body_bytes = 64,
                     .concurrency = 256,
                     .setup_conns = 8,
                     .connect_timeout = 120,
                     .drain_timeout = 10,
                     .server_cpu = -1,
                     .warmup = 20,
                     .rss_limit = 5,
                     .http_rate = 20};
    if (argc < 2 || argv[1][0] == '-') {
        s_usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return -1;
    }
    if (strcmp(argv[1], "fanout") == 0)
        o->scenario = BN_FANOUT;
    else if (strcmp(argv[1], "rooms") == 0)
        o->scenario = BN_ROOMS;
    else if (strcmp(argv[1], "connect") == 0)
        o->scenario = BN_CONNECT;
    else if (strcmp(argv[1], "soak") == 0)
        o->scenario = BN_SOAK;
    else {
        fprintf(stderr, "parley-bench: unknown scenario '%s'\n", argv[1]);
        return -1;
    }
    static const struct option longs[] = {{"port", 1, 0, 'p'},
                                          {"ports", 1, 0, 'o'},
                                          {"protocol", 1, 0, 'P'},
                                          {"conns", 1, 0, 'n'},
                                          {"group", 1, 0, 'k'},
                                          {"threads", 1, 0, 't'},
                                          {"window", 1, 0, 'w'},
                                          {"rate", 1, 0, 'r'},
                                          {"burst", 1, 0, 'b'},
                                          {"duration", 1, 0, 'd'},
                                          {"body-bytes", 1, 0, 's'},
                                          {"concurrency", 1, 0, 'c'},
                                          {"setup-conns", 1, 0, 'S'},
                                          {"server-pid", 1, 0, 'x'},
                                          {"cache", 1, 0, 'C'},
                                          {"label", 1, 0, 'l'},
                                          {"connect-timeout", 1, 0, 'T'},
                                          {"drain-timeout", 1, 0, 'D'},
                                          {"json", 0, 0, 'j'},
                                          {"quiet", 0, 0, 'q'},
                                          {"pace", 1, 0, 'e'},
                                          {"receivers", 1, 0, 'R'},
                                          {"allow-refused", 0, 0, 'a'},
                                          {"server-bin", 1, 0, 'B'},
                                          {"server-cpu", 1, 0, 'U'},
                                          {"kill-every", 1, 0, 'K'},
                                          {"warmup", 1, 0, 'W'},
                                          {"http-rate", 1, 0, 'H'},
                                          {"late-retries", 0, 0, 'L'},
                                          {"rss-limit", 1, 0, 'M'},
                                          {"help", 0, 0, 'h'},
                                          {0, 0, 0, 0}};
    optind = 2;
    int opt;
    double v;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'p':
        case 'o':
            ok = s_ports(o, optarg);
            break;
        case 'P':
            if (strcmp(optarg, "parley") == 0)
                o->proto = BN_PARLEY;
            else if (strcmp(optarg, "raw") == 0)
                o->proto = BN_RAW;
            else if (strcmp(optarg, "socketio") == 0)
                o->proto = BN_SOCKETIO;
            else
                ok = false;
            break;
        case 'n':
            ok = s_num(optarg, 1, BN_MAX_CONNS, &v) && (o->conns = (int)v);
            break;
        case 'k':
            ok = s_num(optarg, 1, BN_MAX_CONNS, &v) && (o->group = (int)v);
            break;
        case 't':
            ok = s_num(optarg, 1, BN_MAX_THREADS, &v) && (o->threads = (int)v);
            break;
        case 'w':
            ok = s_num(optarg, 0, BN_SENDER_MAX_Q, &v) && ((o->window = (int)v), true);
            break;
        case 'r':
            ok = s_num(optarg, 0, 1e7, &o->rate);
            break;
        case 'b':
            ok = s_num(optarg, 1, 1024, &v) && (o->burst = (int)v);
            break;
        case 'd':
            ok = s_num(optarg, 0.1, 3600, &o->duration);
            break;
        case 's':
            ok = s_num(optarg, 16, 4000, &v) && (o->body_bytes = (int)v);
            break;
        case 'c':
            ok = s_num(optarg, 1, 10000, &v) && (o->concurrency = (int)v);
            break;
        case 'S':
            ok = s_num(optarg, 1, 64, &v) && (o->setup_conns = (int)v);
            break;
        case 'x':
            ok = s_num(optarg, 1, 1 << 30, &v) && (o->server_pid = (int)v);
            break;
        case 'C':
            o->cache = optarg;
            break;
        case 'l':
            o->label = optarg;
            break;
        case 'T':
            ok = s_num(optarg, 1, 3600, &o->connect_timeout);
            break;
        case 'D':
            ok = s_num(optarg, 0, 600, &o->drain_timeout);
            break;
        case 'j':
            o->json = true;
            break;
        case 'q':
            o->quiet = o->json = true;
            break;
        case 'a':
            o->allow_refused = true;
            break;
        case 'e':
            if (strcmp(optarg, "echo") == 0)
                o->pace_echo = true;
            else
                ok = strcmp(optarg, "ack") == 0;
            break;
        case 'R':
            if (strcmp(optarg, "sse") == 0)
                o->sse_receivers = true;
            else
                ok = strcmp(optarg, "ws") == 0;
            break;
        case 'B':
            o->server_bin = optarg;
            break;
        case 'U':
            ok = s_num(optarg, 0, 1023, &v) && ((o->server_cpu = (int)v), true);
            break;
        case 'K':
            ok = s_num(optarg, 1, 3600, &o->kill_every);
            break;
        case 'W':
            ok = s_num(optarg, 0, 3600, &o->warmup);
            break;
        case 'H':
            ok = s_num(optarg, 0.1, 1000, &o->http_rate);
            break;
        case 'L':
            o->late_retries = true;
            break;
        case 'M':
            ok = s_num(optarg, 0, 1000, &o->rss_limit);
            break;
        case 'h':
            s_usage(stdout);
            return -1;
        default:
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "parley-bench: bad value for an option (see --help)\n");
            return -1;
        }
    }
    if (o->server_bin) { //  the rest of the command line is the server's
        o->server_args = argv + optind;
        o->server_nargs = argc - optind;
        optind = argc;
    }
    if (optind != argc || (!o->port && !o->server_bin)) {
        fprintf(stderr, "parley-bench: --port is required (see --help)\n");
        return -1;
    }
    if (o->server_bin && o->nports > 1) {
        fprintf(stderr, "parley-bench: soak starts one server: --ports is not for it\n");
        return -1;
    }
    if (o->server_bin && o->scenario != BN_SOAK) {
        fprintf(stderr, "parley-bench: only soak starts a server\n");
        return -1;
    }
    if (o->kill_every > 0 && o->scenario != BN_SOAK) {
        fprintf(stderr, "parley-bench: --kill-every is for soak\n");
        return -1;
    }
    if (o->scenario == BN_SOAK && o->rate == 0)
        o->rate = 20; //  the server's default limit: senders run at it
    if (o->scenario == BN_SOAK &&
        (o->proto != BN_PARLEY || o->group < 5 || o->conns % o->group || !o->server_bin)) {
        fprintf(stderr, "parley-bench: soak needs --server-bin, --protocol parley, and --conns "
                        "a multiple of a --group of at least 5 (one member per role)\n");
        return -1;
    }
    if (o->window < 0)
        o->window = o->scenario == BN_FANOUT ? 1 : 0;
    if (o->scenario == BN_FANOUT) {
        o->group = o->conns;
        if (o->window == 0 && o->rate == 0) {
            fprintf(stderr, "parley-bench: fanout needs --window or --rate\n");
            return -1;
        }
        if (o->burst > 1 && o->window && o->burst > o->window) {
            fprintf(stderr, "parley-bench: --burst must not exceed --window\n");
            return -1;
        }
    }
    if (o->sse_receivers && (o->scenario != BN_FANOUT || o->proto != BN_PARLEY)) {
        fprintf(stderr, "parley-bench: --receivers sse is for fanout against parley\n");
        return -1;
    }
    if (o->scenario == BN_ROOMS) {
        if (o->proto != BN_PARLEY) {
            fprintf(stderr, "parley-bench: rooms needs --protocol parley\n");
            return -1;
        }
        if (o->rate == 0 && o->window == 0)
            o->window = 1;
    }
    if (o->threads > o->conns)
        o->threads = o->conns;
    if (o->proto != BN_PARLEY)
        o->pace_echo = true;
    if (!o->label)
        o->label = bn_proto_name(o->proto);
    return 0;
}
