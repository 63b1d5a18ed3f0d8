"""asynclab.check.ex08b: the check of notebook 08b (the model API under load)."""

import asyncio
import random

import asynclab.check as check
import openai
from test_check_core import hints, passes, short_timeout  # noqa: F401 (autouse)


def retry_after(error):
    return float(error.response.headers.get("retry-after-ms", 1000)) / 1000


def say(prompt):
    return [{"role": "user", "content": prompt}]


def test_ex08b_polite():
    async def polite_complete(llm, model, prompt):
        for attempt in range(10):
            try:
                reply = await llm.chat.completions.create(model=model, messages=say(prompt))
                return reply.choices[0].message.content
            except openai.RateLimitError as e:
                if attempt == 9:
                    raise
                await asyncio.sleep(retry_after(e) + random.uniform(0, 0.1))
            except openai.InternalServerError:
                if attempt == 9:
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))

    async def while_loop(llm, model, prompt):  # another shape: a while loop, seconds header
        attempt = 0
        while True:
            attempt += 1
            try:
                return (await llm.chat.completions.create(model=model, messages=say(prompt))
                        ).choices[0].message.content
            except (openai.RateLimitError, openai.InternalServerError) as e:
                if attempt >= 10:
                    raise
                if e.status_code == 429:
                    wait = float(e.response.headers["retry-after-ms"]) / 1000 + random.random() / 10
                else:
                    wait = random.random() * 0.01 * 2 ** (attempt - 1)
                await asyncio.sleep(wait)

    async def no_retry(llm, model, prompt):
        return (await llm.chat.completions.create(model=model, messages=say(prompt))
                ).choices[0].message.content

    async def only_429(llm, model, prompt):
        for _ in range(10):
            try:
                return (await llm.chat.completions.create(model=model, messages=say(prompt))
                        ).choices[0].message.content
            except openai.RateLimitError as e:
                await asyncio.sleep(retry_after(e) + random.uniform(0, 0.1))

    async def fixed_pause(llm, model, prompt):
        for _ in range(200):
            try:
                return (await llm.chat.completions.create(model=model, messages=say(prompt))
                        ).choices[0].message.content
            except (openai.RateLimitError, openai.InternalServerError):
                await asyncio.sleep(0.002)

    async def no_jitter(llm, model, prompt):
        for attempt in range(10):
            try:
                return (await llm.chat.completions.create(model=model, messages=say(prompt))
                        ).choices[0].message.content
            except openai.RateLimitError as e:
                await asyncio.sleep(retry_after(e))
            except openai.InternalServerError:
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))

    async def returns_the_reply(llm, model, prompt):
        for attempt in range(10):
            try:
                return await llm.chat.completions.create(model=model, messages=say(prompt))
            except openai.RateLimitError as e:
                await asyncio.sleep(retry_after(e) + random.uniform(0, 0.1))
            except openai.InternalServerError:
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))

    passes(check.ex08b_polite(polite_complete))
    passes(check.ex08b_polite(while_loop))
    hints(check.ex08b_polite(no_retry), "escaped")
    hints(check.ex08b_polite(only_429), "InternalServerError")
    hints(check.ex08b_polite(fixed_pause), "before the reset")
    hints(check.ex08b_polite(no_jitter), "jitter", "random.uniform")
    hints(check.ex08b_polite(returns_the_reply), "reply's text")
