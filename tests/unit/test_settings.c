/* The open-file budget (control/settings.c): clients first, then private engine links, then
 * each user's share of them. */
#include "control/settings.h"
#include "test.h"

TEST(settings_budget_everything_fits)
{
    settings_fd_budget b;
    uint64_t want = settings_fds_wanted(10000, 0);
    ASSERT_EQ(want, 10000 + 10000 + 1024);
    settings_budget(want, 10000, 0, 0, &b);
    ASSERT_EQ(b.maxclients, 10000);
    ASSERT_EQ(b.blocking, 10000); /* auto: as many as clients */
    ASSERT_EQ(b.per_user, 9000);  /* auto: nine tenths */
    settings_budget(1048576, 10000, 500, 100, &b);
    ASSERT_EQ(b.blocking, 500);
    ASSERT_EQ(b.per_user, 100);
    settings_budget(1048576, 10000, 500, 900, &b);
    ASSERT_EQ(b.per_user, 500); /* a share is never above the whole */
}

TEST(settings_budget_a_low_limit_keeps_room_for_clients)
{
    settings_fd_budget b;
    /* 20,000 descriptors: every client can connect; private links get what is left. */
    settings_budget(20000, 10000, 0, 0, &b);
    ASSERT_EQ(b.maxclients, 10000);
    ASSERT_EQ(b.blocking, 20000 - 1024 - 10000);
    ASSERT_EQ(b.per_user, b.blocking - b.blocking / 10);
    /* An explicit figure that does not fit is cut to what does. */
    settings_budget(20000, 10000, 15000, 0, &b);
    ASSERT_EQ(b.blocking, 20000 - 1024 - 10000);
    /* Too few even for the clients: clients are cut, and one private link is still there. */
    settings_budget(4096, 10000, 0, 0, &b);
    ASSERT_EQ(b.maxclients, 4096 - 1024 - 1);
    ASSERT_EQ(b.blocking, 1);
    ASSERT_EQ(b.per_user, 1);
    settings_budget(10, 10000, 0, 0, &b);
    ASSERT_TRUE(b.maxclients >= 1 && b.blocking >= 1 && b.per_user >= 1);
}
