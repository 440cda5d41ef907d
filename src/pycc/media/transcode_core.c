/* One transcoding direction of a bridge in C, for the relay worker's packet loop
 * (relay_core.c): what `pycc.media.bridge._Transcoder.forward` does for the pairs among
 * PCMU, PCMA, G.729 and Opus whose audio meets at 8000 Hz in one channel (Opus decodes to
 * and encodes from 8000 Hz itself; its RTP clock stays 48 kHz), without the interpreter.
 *
 * Per packet, as the Python does: the RTP header is read (RFC 3550 section 5.1: CSRCs, the
 * extension and padding checked against the length); a new SSRC re-anchors pycc's outgoing
 * stream on it; RFC 4733 events go on with pycc's numbering (every packet of one key press
 * sharing its timestamp); a gap of up to PT_MAX_CONCEAL packets is concealed, longer ones
 * set the marker; the payload is decoded, queued, and cut into the far party's packets,
 * each encoded and handed to the caller's `pt_send`. Concealment: G.729 by bcg729's own
 * (frame erasure), Opus by libopus's (the last lost packet from the in-band FEC of the one
 * after it, RFC 6716 section 2.1.7), G.711 by pitch repetition after ITU-T G.711 Appendix I,
 * the arithmetic of `pycc.codecs.plc.PitchRepetition` step for step.
 *
 * G.711 goes through the lookup tables of `pycc.codecs.g711`, G.729 and Opus through the
 * bcg729 and libopus states of the worker's own codec objects (whose settings, such as the
 * Opus encoder's FEC, the worker's Python still changes); all are passed in by address, so
 * this file links against nothing but libm.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PT_G711 1
#define PT_G729 2
#define PT_OPUS 3
#define OPUS_MAX_SAMPLES 960 /* 120 ms at 8000 Hz */
#define OPUS_GRANULE 20      /* libopus conceals in steps of 2.5 ms */
#define OPUS_MAX_PACKET 1275
#define PT_MAX_CONCEAL 5
#define PT_MAX_PENDING 960 /* the longest packet pycc makes: 120 ms */
#define PT_MAX_DATAGRAM 2048
/* A datagram of G.729 frames decoded, after five lost packets concealed. */
#define PT_MAX_PCM \
    (PT_MAX_DATAGRAM / G729_BYTES * G729_FRAME + G729_FRAME + PT_MAX_CONCEAL * PT_MAX_PENDING)
#define PT_EVENT_TIMES 9
#define G729_FRAME 80
#define G729_BYTES 10
#define G729_SID 2

/* Pitch repetition at 8000 Hz: `PitchRepetition`'s constants in samples. */
#define PLC_HISTORY 390 /* 48.75 ms */
#define PLC_WIDTH 160   /* 20 ms of correlation */
#define PLC_MIN_PITCH 40
#define PLC_MAX_PITCH 120
#define PLC_FULL 80  /* 10 ms at full level */
#define PLC_FADE 400 /* then 50 ms to silence */
#define PLC_MS 8

typedef void (*bcg729_encode_fn)(void *ctx, const int16_t *pcm, uint8_t *out, uint8_t *length);
typedef void (*bcg729_decode_fn)(void *ctx, const uint8_t *bits, uint8_t length, uint8_t erasure,
                                 uint8_t sid, uint8_t rfc3389, int16_t *pcm);
typedef int (*opus_decode_fn)(void *st, const uint8_t *data, int32_t len, int16_t *pcm,
                              int frame_size, int decode_fec);
typedef int (*opus_encode_fn)(void *st, const int16_t *pcm, int frame_size, uint8_t *data,
                              int32_t max_bytes);
typedef void (*pt_send)(void *ctx, const uint8_t *packet, int32_t len);

typedef struct pt_plc {
    int16_t ring[PLC_HISTORY];
    int32_t end, erased, phase, period_len;
    double period[PLC_MAX_PITCH];
} pt_plc;

/* A direction as the caller describes it, and its running state, read back by `pt_get`.
 * The state fields mean what `_Transcoder.plan()` calls them. */
typedef struct pt_conf {
    int32_t decoder, encoder;   /* PT_G711, PT_G729 or PT_OPUS */
    int32_t frame, src_frame;   /* samples per packet made; per lost packet concealed */
    int32_t step, src_step;     /* their RTP timestamp steps */
    int32_t src_clock, dst_clock, src_event_clock, dst_event_clock;
    int32_t dst_pt, dst_event;  /* dst_event -1: the far party takes no events */
    uint32_t ssrc;
    int32_t seq;
    uint32_t ts;
    int32_t has_in_ssrc;
    uint32_t in_ssrc;
    int32_t has_in_seq, in_seq;
    uint32_t in_base, out_base;
    int32_t marker, pending_len;
    int32_t events_len;
    uint32_t event_in[PT_EVENT_TIMES], event_out[PT_EVENT_TIMES];
    uint64_t concealed, codec_errors;
    uint8_t src_pts[32], src_events[32];
    const int16_t *g711_decode;  /* 256 linear values */
    const uint8_t *g711_encode;  /* 65536 codes, by the sample's bit pattern */
    void *g729_decoder, *g729_encoder;
    void *g729_decode, *g729_encode;
    void *opus_decoder, *opus_encoder;
    void *opus_decode, *opus_encode;
    int16_t pending[PT_MAX_PENDING];
} pt_conf;

typedef struct pt_transcoder {
    pt_conf conf;
    pt_plc plc;
    int16_t pcm[PT_MAX_PCM + PT_MAX_PENDING];
    uint8_t packet[PT_MAX_DATAGRAM];
} pt_transcoder;

static int has_bit(const uint8_t *bits, int type) { return (bits[type >> 3] >> (type & 7)) & 1; }

/* -- pitch repetition (`pycc.codecs.plc.PitchRepetition`, mono at 8000 Hz) ---------------- */

static void plc_push(pt_plc *p, const int16_t *frame, int32_t n) {
    if (n >= PLC_HISTORY) {
        memcpy(p->ring, frame + n - PLC_HISTORY, sizeof p->ring);
        p->end = 0;
        return;
    }
    int32_t first = n < PLC_HISTORY - p->end ? n : PLC_HISTORY - p->end;
    memcpy(p->ring + p->end, frame, (size_t)first * sizeof *frame);
    memcpy(p->ring, frame + first, (size_t)(n - first) * sizeof *frame);
    p->end = (p->end + n) % PLC_HISTORY;
}

static void plc_history(const pt_plc *p, double *h) {
    for (int32_t i = 0; i < PLC_HISTORY; i++) h[i] = p->ring[(p->end + i) % PLC_HISTORY];
}

/* The lag of highest normalised cross-correlation with the last 20 ms; exported for the
 * tests that hold it to `PitchRepetition._pitch_of`. */
int32_t pt_pitch_of(const double *mono, int32_t len) {
    const double *target = mono + len - PLC_WIDTH;
    double best = 0.0;
    int32_t best_lag = PLC_MAX_PITCH; /* when no lag correlates at all */
    for (int32_t lag = PLC_MIN_PITCH; lag <= PLC_MAX_PITCH; lag++) {
        const double *candidate = mono + len - PLC_WIDTH - lag;
        double correlation = 0.0, energy = 0.0;
        for (int32_t i = 0; i < PLC_WIDTH; i++) {
            correlation += candidate[i] * target[i];
            energy += candidate[i] * candidate[i];
        }
        double score = correlation > 0 ? correlation / sqrt(energy + 1e-9) : 0.0;
        if (score > best) { /* the first of equal scores, as numpy's argmax */
            best = score;
            best_lag = lag;
        }
    }
    return best_lag;
}

static void plc_start(pt_plc *p) {
    double h[PLC_HISTORY];
    plc_history(p, h);
    int32_t period = pt_pitch_of(h, PLC_HISTORY);
    double *cycle = p->period;
    for (int32_t i = 0; i < period; i++) cycle[i] = h[PLC_HISTORY - period + i];
    int32_t overlap = period / 4;
    if (overlap) {
        /* The samples before the cycle lead smoothly into it: blending the cycle's tail into
         * them makes its wrap as smooth as the signal was there. */
        double step = 1.0 / (double)(overlap + 1);
        const double *before = h + PLC_HISTORY - period - overlap;
        for (int32_t j = 0; j < overlap; j++) {
            double ramp = (double)(j + 1) * step;
            double *at = cycle + period - overlap + j;
            *at = *at * (1.0 - ramp) + before[j] * ramp;
        }
    }
    p->period_len = period;
    p->phase = 0;
}

static double plc_sample(const pt_plc *p, int32_t i) {
    double gain = 1.0 - (double)(p->erased + i - PLC_FULL) / (double)PLC_FADE;
    gain = gain < 0.0 ? 0.0 : (gain > 1.0 ? 1.0 : gain);
    return p->period[(p->phase + i) % p->period_len] * gain;
}

static int16_t saturate(double x) {
    x = rint(x);
    return (int16_t)(x < -32768.0 ? -32768.0 : (x > 32767.0 ? 32767.0 : x));
}

/* `PitchRepetition.conceal`: n synthetic samples continuing the history. */
void pt_plc_conceal(pt_plc *p, int16_t *out, int32_t n) {
    if (p->erased == 0 || p->period_len == 0) plc_start(p);
    for (int32_t i = 0; i < n; i++) out[i] = saturate(plc_sample(p, i));
    p->phase = (p->phase + n) % p->period_len;
    p->erased += n;
    plc_push(p, out, n);
}

/* `PitchRepetition.observe`: a decoded frame, smoothed in place if it ends a loss. */
void pt_plc_observe(pt_plc *p, int16_t *frame, int32_t n) {
    if (p->erased && p->period_len && n) {
        int32_t merge = p->period_len / 4 + PLC_MS * (p->erased / (10 * PLC_MS));
        if (merge > n) merge = n;
        double step = 1.0 / (double)(merge + 1);
        for (int32_t j = 0; j < merge; j++) {
            double ramp = (double)(j + 1) * step;
            frame[j] = saturate(plc_sample(p, j) * (1.0 - ramp) + (double)frame[j] * ramp);
        }
    }
    p->erased = 0;
    plc_push(p, frame, n);
}

int32_t pt_plc_size(void) { return (int32_t)sizeof(pt_plc); }

/* -- codecs ------------------------------------------------------------------------------ */

/* libopus's concealment of n samples into pcm, from `next`'s FEC data when given (the
 * `OpusDecoder.conceal` and `decode_fec` of pycc.codecs.opus): the samples, or -1. */
static int32_t opus_conceal(pt_transcoder *t, int16_t *pcm, int32_t n, const uint8_t *next,
                            int32_t next_len) {
    pt_conf *c = &t->conf;
    int16_t out[OPUS_MAX_SAMPLES + OPUS_GRANULE];
    int32_t asked = (n + OPUS_GRANULE - 1) / OPUS_GRANULE * OPUS_GRANULE;
    if (asked > OPUS_MAX_SAMPLES + OPUS_GRANULE) return -1;
    int got = ((opus_decode_fn)c->opus_decode)(c->opus_decoder, next_len ? next : NULL,
                                               next_len, out, asked, next_len ? 1 : 0);
    if (got < 0) return -1;
    int32_t take = got < n ? got : n;
    memcpy(pcm, out, (size_t)take * sizeof *out);
    return take;
}

/* Conceal n samples of a lost packet into pcm (the last one lost before `next`, which may
 * carry it as FEC): the samples made, or -1 when the codec fails. */
static int32_t conceal(pt_transcoder *t, int16_t *pcm, int32_t n, int last,
                       const uint8_t *next, int32_t next_len) {
    pt_conf *c = &t->conf;
    if (c->decoder == PT_G711) {
        pt_plc_conceal(&t->plc, pcm, n);
        return n;
    }
    if (c->decoder == PT_OPUS) return opus_conceal(t, pcm, n, next, last ? next_len : 0);
    /* bcg729 conceals whole frames; the tail of the last is not used, as in Python. */
    int16_t frame[G729_FRAME];
    static const uint8_t silent[G729_BYTES];
    for (int32_t at = 0; at < n; at += G729_FRAME) {
        ((bcg729_decode_fn)c->g729_decode)(c->g729_decoder, silent, G729_BYTES, 1, 0, 0, frame);
        int32_t take = n - at < G729_FRAME ? n - at : G729_FRAME;
        memcpy(pcm + at, frame, (size_t)take * sizeof *frame);
    }
    return n;
}

/* Decode a payload into pcm; the samples, or -1 for a payload the codec refuses. */
static int32_t decode(pt_transcoder *t, const uint8_t *payload, int32_t len, int16_t *pcm) {
    pt_conf *c = &t->conf;
    if (c->decoder == PT_G711) {
        for (int32_t i = 0; i < len; i++) pcm[i] = c->g711_decode[payload[i]];
        pt_plc_observe(&t->plc, pcm, len);
        return len;
    }
    if (c->decoder == PT_OPUS) {
        if (len == 0) return -1;
        int got = ((opus_decode_fn)c->opus_decode)(c->opus_decoder, payload, len, pcm,
                                                   OPUS_MAX_SAMPLES, 0);
        return got < 0 ? -1 : got;
    }
    int32_t frames = len / G729_BYTES, tail = len % G729_BYTES;
    if ((tail != 0 && tail != G729_SID) || len == 0) return -1;
    bcg729_decode_fn fn = (bcg729_decode_fn)c->g729_decode;
    for (int32_t i = 0; i < frames; i++)
        fn(c->g729_decoder, payload + G729_BYTES * i, G729_BYTES, 0, 0, 0, pcm + G729_FRAME * i);
    if (tail) fn(c->g729_decoder, payload + G729_BYTES * frames, G729_SID, 0, 1, 0,
                 pcm + G729_FRAME * frames);
    return G729_FRAME * (frames + (tail ? 1 : 0));
}

/* Encode c->frame samples after the header in t->packet; the payload's length, or -1. */
static int32_t encode(pt_transcoder *t, const int16_t *pcm) {
    pt_conf *c = &t->conf;
    uint8_t *out = t->packet + 12;
    if (c->encoder == PT_G711) {
        for (int32_t i = 0; i < c->frame; i++) out[i] = c->g711_encode[(uint16_t)pcm[i]];
        return c->frame;
    }
    if (c->encoder == PT_OPUS) {
        int size = ((opus_encode_fn)c->opus_encode)(c->opus_encoder, pcm, c->frame, out,
                                                    OPUS_MAX_PACKET);
        return size < 0 ? -1 : size;
    }
    bcg729_encode_fn fn = (bcg729_encode_fn)c->g729_encode;
    int32_t size = 0, last = 0;
    for (int32_t at = 0; at < c->frame; at += G729_FRAME) {
        uint8_t length = 0;
        fn(c->g729_encoder, pcm + at, out + size, &length);
        if (length) {
            /* RFC 3551 4.5.6: a SID frame only ends a packet. */
            if (last == G729_SID) {
                size -= G729_SID;
                memmove(out + size, out + size + G729_SID, length);
            }
            size += length;
            last = length;
        }
    }
    return size;
}

/* -- the stream ---------------------------------------------------------------------------- */

static void put32(uint8_t *at, uint32_t v) {
    at[0] = (uint8_t)(v >> 24);
    at[1] = (uint8_t)(v >> 16);
    at[2] = (uint8_t)(v >> 8);
    at[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *at) {
    return ((uint32_t)at[0] << 24) | ((uint32_t)at[1] << 16) | ((uint32_t)at[2] << 8) | at[3];
}

/* `_Transcoder._send`: the header of pycc's stream before a payload already in t->packet. */
static void send_packet(pt_transcoder *t, int32_t pt, int marker, int32_t payload_len,
                        uint32_t ts, pt_send out, void *ctx) {
    pt_conf *c = &t->conf;
    uint8_t *p = t->packet;
    p[0] = 0x80;
    p[1] = (uint8_t)(pt | (marker ? 0x80 : 0));
    p[2] = (uint8_t)(c->seq >> 8);
    p[3] = (uint8_t)c->seq;
    put32(p + 4, ts);
    put32(p + 8, c->ssrc);
    c->marker = 0;
    c->seq = (c->seq + 1) & 0xFFFF;
    out(ctx, p, 12 + payload_len);
}

static uint32_t out_timestamp(const pt_conf *c, uint32_t in_ts) {
    uint32_t elapsed = in_ts - c->in_base;
    if (elapsed >= 0x80000000u) elapsed = 0; /* an older timestamp (reordering) */
    return c->out_base
         + (uint32_t)((uint64_t)elapsed * (uint64_t)c->dst_clock / (uint64_t)c->src_clock);
}

static void forward_event(pt_transcoder *t, const uint8_t *payload, int32_t len, uint32_t ts,
                          int marker, pt_send out, void *ctx) {
    pt_conf *c = &t->conf;
    if (c->dst_event < 0 || len < 4) return;
    uint8_t *copy = t->packet + 12;
    if (12 + len > PT_MAX_DATAGRAM) return;
    memcpy(copy, payload, (size_t)len);
    /* The duration in the far party's event clock. */
    uint64_t duration = ((uint64_t)((copy[2] << 8) | copy[3]) * (uint64_t)c->dst_event_clock)
                      / (uint64_t)c->src_event_clock;
    if (duration > 0xFFFF) duration = 0xFFFF;
    copy[2] = (uint8_t)(duration >> 8);
    copy[3] = (uint8_t)duration;
    uint32_t out_ts = 0;
    int found = 0;
    for (int32_t i = 0; i < c->events_len; i++) {
        if (c->event_in[i] == ts) {
            out_ts = c->event_out[i];
            found = 1;
            break;
        }
    }
    if (!found) {
        out_ts = (uint32_t)((uint64_t)c->ts * (uint64_t)c->dst_event_clock
                            / (uint64_t)c->dst_clock);
        if (c->events_len > 8) c->events_len = 0;
        c->event_in[c->events_len] = ts;
        c->event_out[c->events_len] = out_ts;
        c->events_len++;
    }
    send_packet(t, c->dst_event, marker, len, out_ts, out, ctx);
}

/* Whether a codec kind comes with what it needs. */
static int codec_ready(int32_t kind, const void *table, const void *g729, const void *g729_fn,
                       const void *opus, const void *opus_fn) {
    if (kind == PT_G711) return table != NULL;
    if (kind == PT_G729) return g729 != NULL && g729_fn != NULL;
    return kind == PT_OPUS && opus != NULL && opus_fn != NULL;
}

static int clock_ok(int32_t clock) { return clock == 8000 || clock == 48000; }

/* A transcoder with `conf`'s description and state; NULL for one it cannot run. */
pt_transcoder *pt_new(const pt_conf *conf) {
    const pt_conf *c = conf;
    if (!codec_ready(c->decoder, c->g711_decode, c->g729_decoder, c->g729_decode,
                     c->opus_decoder, c->opus_decode)
        || !codec_ready(c->encoder, c->g711_encode, c->g729_encoder, c->g729_encode,
                        c->opus_encoder, c->opus_encode)
        || !clock_ok(c->src_clock) || !clock_ok(c->dst_clock)
        || !clock_ok(c->src_event_clock) || !clock_ok(c->dst_event_clock)
        || c->step <= 0 || c->src_step <= 0
        || c->frame <= 0 || c->frame > PT_MAX_PENDING
        || (c->encoder == PT_G729 && c->frame % G729_FRAME)
        || c->src_frame <= 0 || c->src_frame > PT_MAX_PENDING
        || c->pending_len < 0 || c->pending_len >= c->frame
        || c->events_len < 0 || c->events_len > PT_EVENT_TIMES
        || c->dst_pt < 0 || c->dst_pt > 127 || c->dst_event < -1 || c->dst_event > 127
        || c->seq < 0 || c->seq > 0xFFFF || c->in_seq < 0 || c->in_seq > 0xFFFF)
        return NULL;
    pt_transcoder *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->conf = *conf;
    return t;
}

void pt_free(pt_transcoder *t) { free(t); }

void pt_get(const pt_transcoder *t, pt_conf *out) { *out = t->conf; }

/* The payloads this direction's codecs refused so far. */
uint64_t pt_codec_errors(const pt_transcoder *t) { return t->conf.codec_errors; }

/* `_Transcoder.forward` for one packet. Returns 0, or 1 when the codec refused the payload
 * (the caller counts it lost). */
int pt_forward(pt_transcoder *t, const uint8_t *data, int32_t len, pt_send out, void *ctx) {
    pt_conf *c = &t->conf;
    if (len < 12 || (data[0] >> 6) != 2) return 0;
    int32_t start = 12 + 4 * (data[0] & 0x0F), end = len;
    if (start > len) return 0;
    if (data[0] & 0x10) {
        if (start + 4 > len) return 0;
        start += 4 + 4 * ((data[start + 2] << 8) | data[start + 3]);
        if (start > len) return 0;
    }
    if (data[0] & 0x20) {
        int32_t padding = data[len - 1];
        if (padding == 0 || padding > len - start) return 0;
        end = len - padding;
    }
    int type = data[1] & 0x7F, marker = data[1] >> 7;
    int32_t seq = (data[2] << 8) | data[3];
    uint32_t ts = get32(data + 4), ssrc = get32(data + 8);
    const uint8_t *payload = data + start;
    int32_t size = end - start;
    if (!c->has_in_ssrc || ssrc != c->in_ssrc) {
        /* A new source (or the first): pycc's stream goes on, re-anchored on it. */
        c->has_in_ssrc = 1;
        c->in_ssrc = ssrc;
        c->in_base = ts;
        c->out_base = c->ts;
        c->has_in_seq = 0;
        c->marker = 1;
    }
    if (has_bit(c->src_events, type)) {
        forward_event(t, payload, size, ts, marker, out, ctx);
        return 0;
    }
    if (!has_bit(c->src_pts, type)) return 0; /* comfort noise and the like */
    int16_t *pcm = t->pcm + c->pending_len;
    int32_t samples = 0, concealed = 0;
    if (c->has_in_seq) {
        int32_t gap = (seq - c->in_seq - 1) & 0xFFFF;
        if (gap >= 0x8000) return 0; /* late duplicate or reordered: already concealed */
        if (gap > 0 && gap <= PT_MAX_CONCEAL) {
            c->concealed += (uint64_t)gap;
            concealed = gap;
            for (int32_t i = 0; i < gap; i++) {
                int32_t made = conceal(t, pcm + samples, c->src_frame, i == gap - 1, payload,
                                       size);
                if (made < 0) {
                    c->codec_errors++;
                    return 1;
                }
                samples += made;
            }
        } else if (gap > PT_MAX_CONCEAL) {
            c->marker = 1;
        }
    }
    c->has_in_seq = 1;
    c->in_seq = seq;
    /* The bound only matters for datagrams longer than the relay reads. */
    int32_t most = c->decoder == PT_G729 ? (size / G729_BYTES + 1) * G729_FRAME
                 : c->decoder == PT_OPUS ? OPUS_MAX_SAMPLES : size;
    int32_t decoded = most > PT_MAX_PCM - samples ? -1 : decode(t, payload, size, pcm + samples);
    if (decoded < 0) {
        c->codec_errors++;
        return 1;
    }
    samples += decoded;
    if (c->pending_len == 0) {
        /* This packet's audio starts at its own time on pycc's clock, concealed frames
         * first, so silence suppression at the sender keeps its length on the far side. */
        c->ts = out_timestamp(c, ts - (uint32_t)(concealed * c->src_step));
    }
    memcpy(t->pcm, c->pending, (size_t)c->pending_len * sizeof *c->pending);
    int32_t total = c->pending_len + samples, at = 0;
    for (; total - at >= c->frame; at += c->frame) {
        int32_t payload_len = encode(t, t->pcm + at);
        if (payload_len < 0) { /* the samples waiting stay as they were, as in Python */
            c->codec_errors++;
            return 1;
        }
        send_packet(t, c->dst_pt, c->marker, payload_len, c->ts, out, ctx);
        c->ts += (uint32_t)c->step;
    }
    c->pending_len = total - at;
    memcpy(c->pending, t->pcm + at, (size_t)c->pending_len * sizeof *c->pending);
    return 0;
}
