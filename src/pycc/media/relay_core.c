/* The relay worker's packet loop in C: what `pycc.media.relay_worker` does per packet for a
 * plainly relayed bridge, without the interpreter.
 *
 * A relay holds an epoll set of RTP sockets, each one side of a bridge: where its party is,
 * the payload-type map towards the far side, the telephone-event types, the counts and the
 * RFC 3550 reception statistics (appendix A.1, A.3, A.8, exactly as `pycc.rtp.stats`
 * computes them, so that a bridge moves between the two without a jump). `pr_drain` reads
 * one datagram from each ready socket and forwards it out of the far side's socket to the
 * far party, all in C. What the interpreter must see is copied into the caller's buffer as
 * records: RTCP multiplexed on the RTP port (RFC 5761 section 4), copies of RFC 4733 event
 * packets, and packets of a side whose direction is transcoded in Python. A direction among
 * PCMU, PCMA, G.729 and Opus is transcoded here instead (transcode_core.c, compiled into the
 * same library), and the packets it makes go out to the far party the same way.
 *
 * Each carried side gets a twin: a second socket bound to the side's address with
 * SO_REUSEPORT and connected to its party. The kernel gives a connected socket the party's
 * datagrams (it is the better match in the port's group) and leaves everyone else's to the
 * original socket, where they are read and counted as strangers, as before. Packets to the
 * party leave by `send` on the twin, which keeps its route: an unconnected `sendto` looks the
 * route up for every datagram, a third of what a relayed packet cost here. A side whose twin
 * cannot be made (an old kernel, no descriptors left) sends with `sendto` as before.
 *
 * The library needs no Python headers: `pycc.media.relay_native` binds it with ctypes, and
 * `pycc accel build` compiles it with the system C compiler. Level-triggered epoll and one
 * read per ready socket per pass: a socket with more queued is simply ready again on the
 * next pass, so no read is spent on finding a socket empty.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PR_MAX_DATAGRAM 2048
#define PR_RECORD_HEADER 12
#define PR_BATCH 256
#define PR_ROUNDS 8
#define RTP_SEQ_MOD 65536
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define HALF_U32 2147483648.0
#define TURN_U32 4294967296.0

enum { PR_RTCP = 1, PR_EVENT = 2, PR_PATH = 3, PR_CODEC_ERROR = 4, PR_PENDING = 5,
       PR_CONTROL = 6 };

/* Why a packet was dropped, in the order of `pycc.media.relay_native.DROP_REASONS`: not from
 * the party, shorter than an RTP header, not RTP version 2, a payload type not negotiated, a
 * payload the codec refuses, one that could not be sent on to the far party, and CSRCs, an
 * extension or padding that do not fit in the packet. */
enum { DROP_SOURCE, DROP_SHORT, DROP_VERSION, DROP_PAYLOAD_TYPE, DROP_CODEC, DROP_SEND,
       DROP_CSRC, DROP_EXTENSION, DROP_PADDING, PR_DROPS };

/* transcode_core.c */
typedef struct pt_transcoder pt_transcoder;
typedef struct pt_conf pt_conf;
typedef void (*pt_send)(void *ctx, const uint8_t *packet, int32_t len);
pt_transcoder *pt_new(const pt_conf *conf);
void pt_free(pt_transcoder *t);
void pt_get(const pt_transcoder *t, pt_conf *out);
uint64_t pt_codec_errors(const pt_transcoder *t);
int pt_forward(pt_transcoder *t, const uint8_t *data, int32_t len, pt_send out, void *ctx);

/* The fields of `pycc.rtp.stats.ReceiverStats`; has_* say whether Python's value is None.
 * reset_lsr: a new SSRC reset the statistics here, so the last-SR fields must go too. */
typedef struct {
    int32_t clock_rate, min_sequential;
    int32_t has_ssrc;
    uint32_t ssrc;
    int32_t has_max_seq, max_seq;
    int32_t valid, probation, base_seq, bad_seq;
    int32_t reset_lsr, has_transit, has_last_time, unused;
    int64_t cycles, received, received_prior, expected_prior;
    double transit, jitter, last_time;
} pr_stats;

/* One side as the caller describes it, and reads it back. */
typedef struct {
    int32_t fd, far_fd, python, has_stats;
    int32_t family, port;
    uint8_t addr[16];
    int16_t map[256];
    uint8_t events[32];
    uint64_t received;
    uint64_t dropped[PR_DROPS];
    double last;
    pr_stats stats;
    /* What a transcoding direction sent this party (the switch's RTCP sender reports). */
    uint64_t sent, sent_octets;
    double last_sent_ts, last_sent_at;
} pr_side;

typedef struct {
    pr_side conf;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    int twin; /* the socket connected to the party on the same address, or -1 */
    int backlog; /* the caller's socket may still hold the party's packets from before */
    int released; /* the twin no longer takes the party's datagrams (see release_twin) */
    pt_transcoder *transcoder; /* this party's packets to the far party's codec */
} side_t;

typedef struct {
    int ep;
    int capacity;
    side_t **by_fd;
    int control; /* the caller's control socket, in the epoll set too, or -1 */
    uint8_t buf[PR_MAX_DATAGRAM];
} relay_t;

/* -- RFC 3550 appendix A.1, A.3, A.8 ------------------------------------------------------ */

static double py_mod(double x, double y) {
    /* Python's float %: the result takes the divisor's sign. */
    double mod = fmod(x, y);
    if (mod != 0.0) {
        if ((y < 0) != (mod < 0)) mod += y;
    } else {
        mod = copysign(0.0, y);
    }
    return mod;
}

static void stats_reset(pr_stats *s) {
    s->has_max_seq = 0;
    s->max_seq = 0;
    s->valid = 0;
    s->probation = s->min_sequential;
    s->base_seq = 0;
    s->bad_seq = RTP_SEQ_MOD + 1;
    s->cycles = 0;
    s->received = 0;
    s->received_prior = 0;
    s->expected_prior = 0;
    s->has_transit = 0;
    s->transit = 0.0;
    s->jitter = 0.0;
    s->reset_lsr = 1;
}

static void init_seq(pr_stats *s, int32_t seq) {
    s->base_seq = seq;
    s->max_seq = seq;
    s->bad_seq = RTP_SEQ_MOD + 1;
    s->cycles = 0;
    s->received = 0;
    s->received_prior = 0;
    s->expected_prior = 0;
    s->valid = 1;
}

static void update_jitter(pr_stats *s, uint32_t ts, double arrival) {
    double transit = arrival * (double)s->clock_rate - (double)ts;
    int had = s->has_transit;
    double previous = s->transit;
    s->transit = transit;
    s->has_transit = 1;
    if (!had) return;
    double d = transit - previous;
    if (!(-HALF_U32 <= d && d < HALF_U32)) d = py_mod(d + HALF_U32, TURN_U32) - HALF_U32;
    s->jitter += (fabs(d) - s->jitter) / 16;
}

static int probation_step(pr_stats *s, int32_t seq, int32_t max_seq) {
    if (seq == ((max_seq + 1) & 0xFFFF)) {
        s->probation -= 1;
        s->max_seq = seq;
        if (s->probation == 0) {
            init_seq(s, seq);
            s->received += 1;
            return 1;
        }
    } else {
        s->probation = s->min_sequential - 1;
        s->max_seq = seq;
    }
    return 0;
}

/* `ReceiverStats.update(seq, rtp_ts, arrival, ssrc)`; exported for the tests that hold the
 * two to the same results. */
int pr_stats_update(pr_stats *s, int32_t seq, uint32_t ts, double arrival, uint32_t ssrc) {
    if (!s->has_ssrc || ssrc != s->ssrc) {
        if (s->has_ssrc) stats_reset(s);
        s->ssrc = ssrc;
        s->has_ssrc = 1;
    }
    s->last_time = arrival;
    s->has_last_time = 1;
    int32_t max_seq;
    if (!s->has_max_seq) {
        max_seq = (seq - 1) & 0xFFFF;
        s->max_seq = max_seq;
        s->has_max_seq = 1;
        s->probation = s->min_sequential;
    } else {
        max_seq = s->max_seq;
    }
    if (s->probation) {
        int accepted = probation_step(s, seq, max_seq);
        update_jitter(s, ts, arrival);
        return accepted;
    }
    int32_t udelta = (seq - max_seq) & 0xFFFF;
    if (udelta < MAX_DROPOUT) {
        if (seq < max_seq) s->cycles += RTP_SEQ_MOD; /* wrapped around */
        s->max_seq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
        if (seq != s->bad_seq) {
            s->bad_seq = (seq + 1) & 0xFFFF;
            return 0;
        }
        init_seq(s, seq); /* two sequential packets after a jump: the sender restarted */
        s->has_transit = 0;
    }
    s->received += 1;
    update_jitter(s, ts, arrival);
    return 1;
}

/* -- the relay ------------------------------------------------------------------------------ */

static double monotonic_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static side_t *lookup(relay_t *r, int fd) {
    return (fd >= 0 && fd < r->capacity) ? r->by_fd[fd] : NULL;
}

relay_t *pr_open(void) {
    relay_t *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0) {
        free(r);
        return NULL;
    }
    r->control = -1;
    return r;
}

/* Watch the caller's control socket too: a pass that finds it readable stops before reading
 * any packet and ends its records with a PR_CONTROL one, so that an order (hand a bridge
 * back) is followed before the packets that arrived with it. */
int pr_watch_control(relay_t *r, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) < 0) return -errno;
    r->control = fd;
    return 0;
}


int pr_fd(relay_t *r) { return r->ep; }

/* The side `fd` is the socket of (not its twin): what the caller's descriptors name. */
static side_t *carried(relay_t *r, int fd) {
    side_t *side = lookup(r, fd);
    return (side != NULL && side->conf.fd == fd) ? side : NULL;
}

static void free_side(side_t *side) {
    if (side == NULL) return;
    if (side->transcoder != NULL) pt_free(side->transcoder);
    if (side->twin >= 0) close(side->twin);
    free(side);
}

void pr_close(relay_t *r) {
    /* The caller's sockets may be closed by now: only the twins, which are the relay's own,
     * are touched. */
    for (int fd = 0; fd < r->capacity; fd++)
        if (r->by_fd[fd] != NULL && r->by_fd[fd]->conf.fd == fd) free_side(r->by_fd[fd]);
    free(r->by_fd);
    close(r->ep);
    free(r);
}

static int peer_address(const pr_side *conf, struct sockaddr_storage *out, socklen_t *len) {
    memset(out, 0, sizeof *out);
    if (conf->port < 0 || conf->port > 65535) return -EINVAL;
    if (conf->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)conf->port);
        memcpy(&in->sin_addr, conf->addr, 4);
        *len = sizeof *in;
        return 0;
    }
    if (conf->family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)conf->port);
        memcpy(&in6->sin6_addr, conf->addr, 16);
        *len = sizeof *in6;
        return 0;
    }
    return -EAFNOSUPPORT;
}

/* Make room in the descriptor table for `fd`. */
static int grow(relay_t *r, int fd) {
    if (fd < r->capacity) return 0;
    int capacity = r->capacity ? r->capacity : 64;
    while (capacity <= fd) capacity *= 2;
    side_t **grown = realloc(r->by_fd, (size_t)capacity * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    memset(grown + r->capacity, 0, (size_t)(capacity - r->capacity) * sizeof *grown);
    r->by_fd = grown;
    r->capacity = capacity;
    return 0;
}

static void share_port(int fd, int on) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
}

/* A socket on `fd`'s address connected to `peer`, or -1. The caller's socket joins a
 * SO_REUSEPORT group only for as long as the twin lives, so that pycc's port allocation still
 * finds the port taken meanwhile (a plain bind is refused). */
static int make_twin(int fd, const struct sockaddr_storage *peer, socklen_t peer_len) {
    struct sockaddr_storage local;
    socklen_t local_len = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &local_len) < 0
        || local.ss_family != peer->ss_family)
        return -1;
    int twin = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (twin < 0) return -1;
    int on = 1;
    if (local.ss_family == AF_INET6) { /* bound alike, or the bind is refused */
        int v6only = 0;
        socklen_t size = sizeof v6only;
        if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &size) == 0)
            setsockopt(twin, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    share_port(fd, 1);
    if (setsockopt(twin, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0
        || bind(twin, (const struct sockaddr *)&local, local_len) < 0
        || connect(twin, (const struct sockaddr *)peer, peer_len) < 0) {
        close(twin);
        share_port(fd, 0);
        return -1;
    }
    return twin;
}

/* Start carrying one side; its far side is added the same way (both before packets flow
 * matters not: a packet for a far side not yet added is dropped and counted). */
int pr_add(relay_t *r, const pr_side *conf) {
    int fd = conf->fd;
    if (fd < 0) return -EBADF;
    if (lookup(r, fd) != NULL) return -EEXIST;
    side_t *side = calloc(1, sizeof *side);
    if (side == NULL) return -ENOMEM;
    side->conf = *conf;
    side->twin = -1;
    int bad = peer_address(conf, &side->peer, &side->peer_len);
    if (bad == 0) bad = grow(r, fd);
    if (bad) {
        free(side);
        return bad;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        free(side);
        return -err;
    }
    r->by_fd[fd] = side;
    int twin = make_twin(fd, &side->peer, side->peer_len);
    if (twin >= 0) {
        struct epoll_event tev = {.events = EPOLLIN, .data.fd = twin};
        if (grow(r, twin) == 0 && epoll_ctl(r->ep, EPOLL_CTL_ADD, twin, &tev) == 0) {
            side->twin = twin;
            side->backlog = 1;
            r->by_fd[twin] = side;
        } else {
            close(twin);
            share_port(fd, 0);
        }
    }
    return 0;
}

/* Whether a side has its twin (1), sends with sendto (0), or is not carried (-ENOENT). */
int pr_twinned(relay_t *r, int fd) {
    side_t *side = carried(r, fd);
    return side == NULL ? -ENOENT : side->twin >= 0;
}

static void record(uint8_t *out, int32_t *used, int32_t fd, int32_t kind, const uint8_t *data,
                   int32_t len);

/* Let the party's next datagrams go to the caller's socket: the twin is connected to its
 * own address instead, which no party sends from, so the kernel's lookup no longer prefers
 * it (its queue stays readable). Until then a datagram could land on the twin after the
 * last read of it and be lost when it closes. */
static void release_twin(side_t *side) {
    if (side->twin < 0 || side->released) return;
    struct sockaddr_storage local;
    socklen_t local_len = sizeof local;
    if (getsockname(side->twin, (struct sockaddr *)&local, &local_len) == 0)
        connect(side->twin, (const struct sockaddr *)&local, local_len);
    side->released = 1;
}

/* Move what waits on a side's twin into `out` as PR_PENDING records, unread by the loop:
 * once the twin closes no one could read it, and the caller hands a side back because
 * someone else (the switch) must see its packets from now on. The twin takes no more of
 * the party's datagrams from the first call on. Returns the datagrams taken; call again
 * while it returns any. */
int pr_take_pending(relay_t *r, int fd, uint8_t *out, int32_t capacity, int32_t *used) {
    *used = 0;
    side_t *side = carried(r, fd);
    if (side == NULL) return -ENOENT;
    release_twin(side);
    int taken = 0;
    for (int tries = 0; side->twin >= 0 && tries < PR_BATCH; tries++) {
        if (capacity - *used < PR_RECORD_HEADER + PR_MAX_DATAGRAM) break;
        ssize_t len = recv(side->twin, r->buf, sizeof r->buf, MSG_DONTWAIT);
        if (len < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            continue; /* an ICMP error of an earlier send */
        }
        record(out, used, fd, PR_PENDING, r->buf, (int32_t)len);
        taken++;
    }
    return taken;
}

/* Copy a side's state out; with `remove`, stop carrying it too (what still waits on its
 * twin is lost: take it first). */
int pr_get(relay_t *r, int fd, pr_side *out, int remove) {
    side_t *side = carried(r, fd);
    if (side == NULL) return -ENOENT;
    if (out != NULL) *out = side->conf;
    if (remove) {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, fd, NULL);
        r->by_fd[fd] = NULL;
        if (side->twin >= 0) {
            epoll_ctl(r->ep, EPOLL_CTL_DEL, side->twin, NULL);
            r->by_fd[side->twin] = NULL;
            close(side->twin);
            side->twin = -1;
            share_port(fd, 0);
        }
        free_side(side);
    }
    return 0;
}

/* Transcode a side's packets here (see transcode_core.c) instead of relaying them or passing
 * them up; the direction's state is copied in. */
int pr_transcode(relay_t *r, int fd, const pt_conf *conf) {
    side_t *side = carried(r, fd);
    if (side == NULL) return -ENOENT;
    pt_transcoder *made = pt_new(conf);
    if (made == NULL) return -EINVAL;
    if (side->transcoder != NULL) pt_free(side->transcoder);
    side->transcoder = made;
    side->conf.python = 0;
    return 0;
}

/* A side's transcoding direction as it is now. */
int pr_transcoder(relay_t *r, int fd, pt_conf *out) {
    side_t *side = carried(r, fd);
    if (side == NULL || side->transcoder == NULL) return -ENOENT;
    pt_get(side->transcoder, out);
    return 0;
}

/* Of each of `n` sides, PR_COUNTS doubles: received, the last arrival, what a transcoding
 * direction sent it (packets, payload octets, the last RTP timestamp and when), and the
 * packets dropped for each reason; a side not carried reads as -1. */
#define PR_COUNTS (6 + PR_DROPS)
int pr_counts(relay_t *r, const int32_t *fds, int32_t n, double *out) {
    for (int32_t i = 0; i < n; i++) {
        side_t *side = carried(r, fds[i]);
        double *at = out + PR_COUNTS * i;
        if (side == NULL) {
            for (int k = 0; k < PR_COUNTS; k++) at[k] = -1.0;
            continue;
        }
        const pr_side *c = &side->conf;
        at[0] = (double)c->received;
        at[1] = c->last;
        at[2] = (double)c->sent;
        at[3] = (double)c->sent_octets;
        at[4] = c->last_sent_ts;
        at[5] = c->last_sent_at;
        for (int k = 0; k < PR_DROPS; k++) at[6 + k] = (double)c->dropped[k];
    }
    return 0;
}

static int same_peer(const side_t *side, const struct sockaddr_storage *from) {
    if (from->ss_family != side->peer.ss_family) return 0;
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)from;
        const struct sockaddr_in *b = (const struct sockaddr_in *)&side->peer;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
    const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&side->peer;
    return a->sin6_port == b->sin6_port
        && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
}

static void record(uint8_t *out, int32_t *used, int32_t fd, int32_t kind, const uint8_t *data,
                   int32_t len) {
    int32_t header[3] = {fd, kind, len};
    memcpy(out + *used, header, sizeof header);
    memcpy(out + *used + PR_RECORD_HEADER, data, (size_t)len);
    *used += PR_RECORD_HEADER + len;
}

typedef struct {
    side_t *far;
    double now;
} sending_t;

/* Out of a side's port to its party: by its twin while it has one connected there. */
static ssize_t send_to_party(const side_t *side, const uint8_t *data, size_t len) {
    if (side->twin >= 0 && !side->released) return send(side->twin, data, len, 0);
    return sendto(side->conf.fd, data, len, 0, (const struct sockaddr *)&side->peer,
                  side->peer_len);
}

/* Where a transcoding direction's packets go: out of the far side's socket to its party. */
static void send_far(void *ctx, const uint8_t *packet, int32_t len) {
    sending_t *to = ctx;
    pr_side *far = &to->far->conf;
    if (send_to_party(to->far, packet, (size_t)len) < 0) {
        far->dropped[DROP_SEND]++;
        return;
    }
    far->sent++;
    far->sent_octets += (uint64_t)(len - 12);
    far->last_sent_ts = (double)(((uint32_t)packet[4] << 24) | ((uint32_t)packet[5] << 16)
                                 | ((uint32_t)packet[6] << 8) | packet[7]);
    far->last_sent_at = to->now;
}

/* Whether the CSRC list, the header extension and the padding of an RTP packet of at least
 * 12 bytes fit in it (RFC 3550 §5.1, §5.3.1), as the switch checks before relaying: -1, or
 * the reason to drop it. */
static int layout_fault(const uint8_t *data, int32_t len) {
    int32_t offset = 12 + 4 * (data[0] & 0x0F);
    if (offset > len) return DROP_CSRC;
    if (data[0] & 0x10) {
        if (offset + 4 > len) return DROP_EXTENSION;
        offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3]);
        if (offset > len) return DROP_EXTENSION;
    }
    if (data[0] & 0x20) {
        int32_t padding = data[len - 1]; /* counts itself: neither 0 nor into the header */
        if (padding == 0 || padding > len - offset) return DROP_PADDING;
    }
    return -1;
}

static void handle(relay_t *r, side_t *side, int32_t len, const struct sockaddr_storage *from,
                   uint8_t *out, int32_t *used) {
    uint8_t *data = r->buf;
    pr_side *conf = &side->conf;
    if (!same_peer(side, from)) {
        conf->dropped[DROP_SOURCE]++;
        return;
    }
    if (len < 2 || (data[0] >> 6) != 2) {
        conf->dropped[len < 2 ? DROP_SHORT : DROP_VERSION]++;
        return;
    }
    uint8_t second = data[1];
    if (second >= 192 && second <= 223) { /* RTCP multiplexed on the RTP port, of any */
        record(out, used, conf->fd, PR_RTCP, data, len); /* length: the switch parses it */
        return;
    }
    if (len < 12) {
        conf->dropped[DROP_SHORT]++;
        return;
    }
    if (data[0] & 0x3F) { /* CSRCs, an extension or padding: rare, and checked then */
        int fault = layout_fault(data, len);
        if (fault >= 0) {
            conf->dropped[fault]++;
            return;
        }
    }
    int16_t mapped = conf->map[second];
    if (mapped < 0) {
        conf->dropped[DROP_PAYLOAD_TYPE]++;
        return;
    }
    double now = monotonic_now();
    if (conf->has_stats) {
        int32_t seq = (data[2] << 8) | data[3];
        uint32_t ts = ((uint32_t)data[4] << 24) | ((uint32_t)data[5] << 16)
                    | ((uint32_t)data[6] << 8) | data[7];
        uint32_t ssrc = ((uint32_t)data[8] << 24) | ((uint32_t)data[9] << 16)
                      | ((uint32_t)data[10] << 8) | data[11];
        pr_stats_update(&conf->stats, seq, ts, now, ssrc);
    }
    conf->received++;
    conf->last = now;
    uint8_t type = second & 0x7F;
    if (conf->events[type >> 3] & (1u << (type & 7))) record(out, used, conf->fd, PR_EVENT, data, len);
    if (conf->python) {
        record(out, used, conf->fd, PR_PATH, data, len);
        return;
    }
    side_t *far = carried(r, conf->far_fd);
    if (far == NULL) {
        conf->dropped[DROP_SEND]++;
        return;
    }
    if (side->transcoder != NULL) {
        sending_t to = {far, now};
        if (pt_forward(side->transcoder, data, len, send_far, &to)) {
            conf->dropped[DROP_CODEC]++; /* a payload the codec refuses: that packet is */
            if (pt_codec_errors(side->transcoder) == 1) /* lost; the switch hears of the first */
                record(out, used, conf->fd, PR_CODEC_ERROR, data, len);
        }
        return;
    }
    data[1] = (uint8_t)mapped;
    if (send_to_party(far, data, (size_t)len) < 0) far->conf.dropped[DROP_SEND]++;
}

/* Handle what waits on a side's own socket until it is empty, then forget the backlog: the
 * datagrams read, or minus them when `out` ran out of room first. */
static int read_backlog(relay_t *r, side_t *side, uint8_t *out, int32_t capacity,
                        int32_t *used) {
    int read = 0;
    for (int tries = 0; tries < 4 * PR_BATCH; tries++) {
        if (capacity - *used < 2 * (PR_RECORD_HEADER + PR_MAX_DATAGRAM)) return -read;
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        ssize_t len = recvfrom(side->conf.fd, r->buf, sizeof r->buf, MSG_DONTWAIT,
                               (struct sockaddr *)&from, &from_len);
        if (len < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            continue; /* an ICMP error of an earlier send */
        }
        read++;
        handle(r, side, (int32_t)len, &from, out, used);
    }
    side->backlog = 0;
    return read;
}

/* One pass over the ready sockets: at most one datagram from each, up to PR_ROUNDS rounds of
 * PR_BATCH while sockets stay ready and `out` has room for what the interpreter must see.
 * Returns the datagrams read, or -errno; `*used` is the bytes of records written. */
int pr_drain(relay_t *r, uint8_t *out, int32_t capacity, int32_t *used) {
    struct epoll_event events[PR_BATCH];
    int total = 0;
    *used = 0;
    for (int round = 0; round < PR_ROUNDS; round++) {
        int n = epoll_wait(r->ep, events, PR_BATCH, 0);
        if (n < 0) return (errno == EINTR) ? total : -errno;
        for (int i = 0; r->control >= 0 && i < n; i++) {
            if (events[i].data.fd == r->control) {
                /* The packets stay ready (level-triggered) for the next pass. */
                record(out, used, r->control, PR_CONTROL, r->buf, 0);
                return total;
            }
        }
        for (int i = 0; i < n; i++) {
            /* A packet can make two records (an event copy, then the packet for a
             * transcoder): stop while there is room for both; the rest stay ready. */
            if (capacity - *used < 2 * (PR_RECORD_HEADER + PR_MAX_DATAGRAM)) return total;
            side_t *side = lookup(r, events[i].data.fd);
            if (side == NULL) continue;
            if (events[i].data.fd == side->twin && side->backlog) {
                /* The party's packets from before the twin come first, in order. */
                int left = read_backlog(r, side, out, capacity, used);
                total += left < 0 ? -left : left;
                if (left < 0) return total; /* out of room: the rest on the next pass */
            }
            struct sockaddr_storage from;
            socklen_t from_len = sizeof from;
            ssize_t len = recvfrom(events[i].data.fd, r->buf, sizeof r->buf, 0,
                                   (struct sockaddr *)&from, &from_len);
            if (len < 0) continue; /* nothing after all, or an ICMP error of an earlier send */
            total++;
            handle(r, side, (int32_t)len, &from, out, used);
        }
        if (n < PR_BATCH) break;
    }
    return total;
}
