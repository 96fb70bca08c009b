package netcore

import (
	"sort"
	"strings"
)

// channelNames is the vendor's channel table ("Bot Open API 1.0.0",
// transcripts channelId enum). The users endpoint answers with the name; the
// transcripts and botUsage endpoints want the id.
var channelNames = map[int]string{
	1010: "webchat",
	1011: "workflow",
	1012: "googleBusinessMessages",
	1013: "general",
	1014: "whatsapp",
	1015: "RCSBusinessMessages",
	1016: "telegram",
	1017: "facebook",
	1018: "sms",
	1019: "hangoutsChat",
	1020: "google",
	1021: "instagramMessaging",
}

// defaultChannels are the channels the users endpoint is documented to
// filter on (vendors.md's example body).
var defaultChannels = []int{1010, 1014, 1016, 1017, 1021}

// whatsappChannel is the channel whose botUserId is the person's phone.
const whatsappChannel = 1014

// channelID maps a channel name back to its id. The match ignores case: the
// table mixes camelCase and lower case, and a differently cased name is
// still unambiguous.
func channelID(name string) (int, bool) {
	name = strings.TrimSpace(name)
	for id, n := range channelNames {
		if strings.EqualFold(n, name) {
			return id, true
		}
	}
	return 0, false
}

// knownChannelIDs lists the table's ids, sorted, for error messages.
func knownChannelIDs() []int {
	ids := make([]int, 0, len(channelNames))
	for id := range channelNames {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}
