/* Tests for cli/table: each cell owns its text (many fit one printf), sizes and addresses shown
 * for people, and columns laid out as printf's widths would. */
#define ALLOC_ROOM ROOM_TEST
#include <stdio.h>
#include <string.h>

#include "cli/table.h"
#include "test.h"

TEST(table_cells_keep_their_own_numbers)
{
    /* What `stratus usage` prints: three numbers in one line, each its own. */
    cli_cell v[3];
    cli_cell_real(&v[0], 1234.5, 3);
    cli_cell_real(&v[1], 0.25, 3);
    cli_cell_int(&v[2], 300);
    char line[128];
    snprintf(line, sizeof(line), "%s ECPU, %s GB-hours, %s keys", cli_cell_text(&v[0]),
             cli_cell_text(&v[1]), cli_cell_text(&v[2]));
    ASSERT_STR_EQ(line, "1234.500 ECPU, 0.250 GB-hours, 300 keys");
}

TEST(table_cell_borrows_a_string_and_forgets_it_for_a_number)
{
    static const char name[] = "orders";
    cli_cell c;
    cli_cell_str(&c, name);
    ASSERT_TRUE(cli_cell_text(&c) == name);
    cli_cell_int(&c, -7);
    ASSERT_STR_EQ(cli_cell_text(&c), "-7");
    cli_cell_real(&c, 150.46, 1);
    ASSERT_STR_EQ(cli_cell_text(&c), "150.5");
}

TEST(table_bytes_for_people)
{
    static const struct {
        double bytes;
        const char *want;
    } cases[] = {
        {0, "0 B"},
        {1023, "1023 B"},
        {1024, "1.0 KB"},
        {6671, "6.5 KB"},
        {348044, "339.9 KB"},
        {1048576 * 1.5, "1.5 MB"},
        {1073741824.0, "1.0 GB"},
        {1099511627776.0 * 2048, "2048.0 TB"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cli_cell c;
        cli_cell_bytes(&c, cases[i].bytes);
        ASSERT_STR_EQ(cli_cell_text(&c), cases[i].want);
    }
}

TEST(table_address_puts_ipv6_in_brackets)
{
    cli_cell c;
    cli_cell_address(&c, "127.0.0.1", "6379");
    ASSERT_STR_EQ(cli_cell_text(&c), "127.0.0.1:6379");
    cli_cell_address(&c, "::1", "6380");
    ASSERT_STR_EQ(cli_cell_text(&c), "[::1]:6380");
    cli_cell_address(&c, "-", "-");
    ASSERT_STR_EQ(cli_cell_text(&c), "-:-");
}

TEST(table_columns_lay_out_as_printf_widths)
{
    static const cli_col cols[] = {{"NAME", 8, 1}, {"FILES", 5, 0}, {"KEYS", 6, 0}};
    const char *const cells[] = {"snap", "1", "300"};
    buf out;
    buf_init(&out);
    for (size_t i = 0; i < 3; i++)
        cli_table_put(&out, &cols[i], cols[i].header, i == 0);
    buf_append(&out, "\n", 1);
    for (size_t i = 0; i < 3; i++)
        cli_table_put(&out, &cols[i], cells[i], i == 0);
    char want[128];
    snprintf(want, sizeof(want), "%-8s %5s %6s\n%-8s %5s %6s", "NAME", "FILES", "KEYS", "snap", "1",
             "300");
    ASSERT_MEM_EQ(buf_rptr(&out), buf_used(&out), want, strlen(want));
    buf_deinit(&out);
}

TEST(table_a_long_value_widens_its_cell)
{
    static const cli_col label = {NULL, 4, 1}, value = {NULL, 0, 1};
    buf out;
    buf_init(&out);
    cli_table_put(&out, &label, "description", 1);
    cli_table_put(&out, &value, "", 0);
    cli_table_put(&out, &label, "ca", 1);
    const char want[] = "description ca  ";
    ASSERT_MEM_EQ(buf_rptr(&out), buf_used(&out), want, strlen(want));
    buf_deinit(&out);
}
