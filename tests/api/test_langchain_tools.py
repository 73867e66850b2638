"""LangChain's OpenAI chat model against the live server: bound tools, structured output through a
function call, and an agent loop (call, tool result, answer)."""

from __future__ import annotations

import json
from typing import Literal

import jsonschema
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from tests.api.conftest import MODEL
from tests.live_server import ADMIN_KEY


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
    """The current weather in a city."""
    return json.dumps({"city": city, "temperature": 18 if unit == "celsius" else 64, "sky": "clear"})


class Weather(BaseModel):
    """A weather report."""

    city: str = Field(max_length=16)
    temperature: int = Field(ge=-50, le=60)
    sky: Literal["clear", "cloudy", "rain"]


def chat_model(server_url: str, **fields: object) -> ChatOpenAI:
    return ChatOpenAI(
        model=MODEL, base_url=f"{server_url}/v1", api_key=ADMIN_KEY, max_retries=0, max_tokens=48, **fields
    )


def test_bind_tools_with_tool_choice_any_returns_a_tool_call(server_url: str) -> None:
    llm = chat_model(server_url, temperature=1, seed=7)
    message = llm.bind_tools([get_weather], tool_choice="any").invoke("What is the weather in Paris?")
    assert isinstance(message, AIMessage)
    assert message.tool_calls, message
    call = message.tool_calls[0]
    assert call["name"] == "get_weather"
    jsonschema.validate(call["args"], get_weather.tool_call_schema.model_json_schema())


def test_structured_output_through_a_function_call_is_a_valid_instance(server_url: str) -> None:
    llm = chat_model(server_url, temperature=1, seed=11)
    report = llm.with_structured_output(Weather, method="function_calling").invoke("Report the weather in Oslo.")
    assert isinstance(report, Weather)


def test_an_agent_loop_calls_a_tool_then_answers(server_url: str) -> None:
    llm = chat_model(server_url, temperature=0)
    messages: list[BaseMessage] = [HumanMessage("What is the weather in Paris? Answer in one sentence.")]
    # Turn one: the model must use the tool.
    call_message = llm.bind_tools([get_weather], tool_choice="any").invoke(messages)
    assert isinstance(call_message, AIMessage) and call_message.tool_calls
    messages.append(call_message)
    for call in call_message.tool_calls:
        result = get_weather.invoke(call["args"])
        messages.append(ToolMessage(result, tool_call_id=call["id"]))
    # Turn two: with the result in the conversation, the model answers.
    answer = llm.bind_tools([get_weather], tool_choice="none").invoke(messages)
    assert isinstance(answer, AIMessage)
    assert not answer.tool_calls
    assert isinstance(answer.content, str) and answer.content.strip()
