#!/bin/bash
# test_scripted_answer.sh - the whole answer path on a model whose answer is
# known: `r1 model gen --script 'Hm.</think>Yes'` makes a model that answers
# any prompt ending in a newline (R1's template ends in "<think>\n") with
# exactly those bytes and then end-of-sequence. Checks the reasoning split
# (whole and streamed), usage and reasoning_tokens, finish reasons, stop
# strings inside the reasoning and inside the answer, max_tokens, logprobs,
# text completions (no split), and prefix-cache reuse (cached_tokens).
#   usage: test_scripted_answer.sh R1 TESTDATA
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"

make_model scripted --shape tiny --type q8_0 --seed 1 --script 'Hm.</think>Yes' || exit 1
check "server starts" start_server "$MODEL"
ALIAS=scripted

chat() { # chat EXTRA_JSON_FIELDS -> status; body in $WORK/body
    post_json /v1/chat/completions '{"model":"scripted","messages":[{"role":"user","content":"Is it?"}]'"$1"'}'
}

# ---- whole answers
code=$(chat '')
check "chat: 200" expect_status chat 200 "$code"
check "chat: reasoning and answer apart" json_ok "$WORK/body" \
    "d['choices'][0]['message'] == {'role': 'assistant', 'content': 'Yes', 'reasoning_content': 'Hm.'}"
# 15 tokens: H m . < / t h i n k > (11, inside the reasoning), Y e s, end-of-sequence
check "chat: finish stop, usage" json_ok "$WORK/body" \
    "d['choices'][0]['finish_reason'] == 'stop' and d['usage']['completion_tokens'] == 15 and \
     d['usage']['completion_tokens_details']['reasoning_tokens'] == 11 and \
     d['usage']['total_tokens'] == d['usage']['prompt_tokens'] + 15"

code=$(chat ',"max_tokens":2')
check "max_tokens: length" json_ok "$WORK/body" \
    "d['choices'][0]['finish_reason'] == 'length' and d['choices'][0]['message']['reasoning_content'] == 'Hm' \
     and d['choices'][0]['message']['content'] == '' and d['usage']['completion_tokens'] == 2"

code=$(chat ',"stop":["Ye"]')
check "stop string in the answer" json_ok "$WORK/body" \
    "d['choices'][0]['finish_reason'] == 'stop' and d['choices'][0]['message'] == \
     {'role': 'assistant', 'content': '', 'reasoning_content': 'Hm.'}"

code=$(chat ',"stop":"m."')
check "stop string in the reasoning" json_ok "$WORK/body" \
    "d['choices'][0]['finish_reason'] == 'stop' and d['choices'][0]['message']['reasoning_content'] == 'H' \
     and d['choices'][0]['message']['content'] == '' and d['usage']['completion_tokens'] == 3"

code=$(chat ',"logprobs":true,"top_logprobs":2,"temperature":0')
check "logprobs: the scripted token is nearly certain" json_ok "$WORK/body" \
    "[e['token'] for e in d['choices'][0]['logprobs']['content']][:3] == ['H', 'm', '.'] and \
     all(e['logprob'] > -0.01 and len(e['top_logprobs']) == 2 for e in d['choices'][0]['logprobs']['content'])"

# ---- the same, streamed
printf '%s' '{"model":"scripted","messages":[{"role":"user","content":"Is it?"}],"stream":true,"stream_options":{"include_usage":true}}' >"$WORK/request.json"
curl -sN --max-time 30 -H 'Content-Type: application/json' --data-binary @"$WORK/request.json" \
    "$R1_URL/v1/chat/completions" >"$WORK/stream.txt"
check "stream: deltas, finish, usage, [DONE]" python3 - "$WORK/stream.txt" <<'PY'
import json, sys
events = [l[6:] for l in open(sys.argv[1]).read().split('\n') if l.startswith('data: ')]
assert events[-1] == '[DONE]', events[-1]
chunks = [json.loads(e) for e in events[:-1]]
assert len({c['id'] for c in chunks}) == 1
assert chunks[0]['choices'][0]['delta'].get('role') == 'assistant'
deltas = [c['choices'][0]['delta'] for c in chunks if c['choices']]
reasoning = ''.join(d.get('reasoning_content', '') for d in deltas)
content = ''.join(d.get('content', '') or '' for d in deltas)
assert (reasoning, content) == ('Hm.', 'Yes'), (reasoning, content)
finishes = [c['choices'][0]['finish_reason'] for c in chunks if c['choices'] and c['choices'][0]['finish_reason']]
assert finishes == ['stop'], finishes
usage = chunks[-1]['usage']
assert chunks[-1]['choices'] == [] and usage['completion_tokens'] == 15, usage
assert usage['completion_tokens_details']['reasoning_tokens'] == 11, usage
PY

# ---- text completions: no reasoning split
code=$(post_json /v1/completions '{"model":"scripted","prompt":"Question?\n"}')
check "completion: the script as text" json_ok "$WORK/body" \
    "d['object'] == 'text_completion' and d['choices'][0]['text'] == 'Hm.</think>Yes' and \
     d['choices'][0]['finish_reason'] == 'stop' and d['usage']['completion_tokens'] == 15"

# ---- prefix reuse: one long system prompt, two users
SYSTEM=$(python3 -c "print('You are a careful assistant. ' * 20)")
body() { printf '{"model":"scripted","messages":[{"role":"system","content":"%s"},{"role":"user","content":"%s"}]}' "$SYSTEM" "$1"; }
code=$(post_json /v1/chat/completions "$(body 'first question')")
code=$(post_json /v1/chat/completions "$(body 'another one')")
check "prefix reuse: the system prompt came from the cache" json_ok "$WORK/body" \
    "d['usage']['prompt_tokens_details']['cached_tokens'] >= len('$SYSTEM') and \
     d['usage']['prompt_cache_hit_tokens'] + d['usage']['prompt_cache_miss_tokens'] == d['usage']['prompt_tokens'] and \
     d['choices'][0]['message']['content'] == 'Yes'"
code=$(post_json /v1/chat/completions "$(body 'another one')")
check "prefix reuse: the same prompt again is cached but for its last token" json_ok "$WORK/body" \
    "d['usage']['prompt_tokens_details']['cached_tokens'] == d['usage']['prompt_tokens'] - 1"

check "server exits 0 on SIGTERM" stop_server
finish
