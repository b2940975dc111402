import pytest

from dashboard.charts import column_chart, format_duration, horizontal_bars


def test_bars_are_sized_against_the_largest_value():
    bars = horizontal_bars([("a", "A", 10, "10"), ("b", "B", 5, "5"), ("c", "C", 0, "0")])
    assert [(bar.key, bar.percent) for bar in bars] == [("a", 100.0), ("b", 50.0), ("c", 0.0)]
    assert [bar.percent for bar in horizontal_bars([("a", "A", 0, "0")])] == [0.0]
    assert horizontal_bars([]) == []


def test_columns_stand_on_the_baseline_and_the_tallest_fills_the_chart():
    chart = column_chart([("d1", "01/03", 0), ("d2", "02/03", 2), ("d3", "03/03", 4)], width=300, height=120,
                         gap=0, axis=20, headroom=10, label_every=2)
    assert chart.baseline == 100 and chart.largest == 4
    first, middle, last = chart.columns
    assert (first.x, middle.x, last.x) == (0, 100, 200) and last.width == 100
    assert (first.height, middle.height, last.height) == (0, 45, 90)
    assert all(column.y + column.height == chart.baseline for column in chart.columns)
    assert [column.tick for column in chart.columns] == [True, False, True]  # counted from today backwards
    assert last.value_y == last.y - 3


def test_an_empty_chart_has_flat_columns():
    chart = column_chart([("d1", "01/03", 0), ("d2", "02/03", 0)])
    assert {column.height for column in chart.columns} == {0}
    assert column_chart([]).columns == []


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (59.4, "59 s"), (60, "1 min"), (4500, "1 h 15 min"),
                                           (3600 * 26 + 60, "1 d 2 h"), (-5, "0 s")])
def test_durations_read_like_a_person_would_say_them(seconds, text):
    assert format_duration(seconds) == text


def test_a_low_part_fills_its_bar_against_its_minimum():
    from dashboard.views import _fill

    assert (_fill(1, 4), _fill(4, 4), _fill(0, 4), _fill(-1, 4)) == (25.0, 100.0, 0.0, 0.0)
    assert (_fill(0, 0), _fill(3, 0)) == (0.0, 100.0)  # no minimum set: empty or not
